/**
 * Oracle tests against PyTorch (scripts/fixtures/models.py -> fixtures/models.json): torchvision's
 * ResNet and MobileNetV2 names, shapes and parameter counts; MobileNetV2 backbone features; DeepLabV3+ parameter counts; forward passes of networks
 * whose weights both sides compute from one formula; a torchvision-layout checkpoint written by the
 * documented conversion snippet.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { noGrad, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { float32ChainBound } from '../torch/testing.js';
import { BatchNorm2d, Conv2d, type Module } from '../nn/index.js';
import { interpolate } from '../torch/ops/functional.js';
import { buildModel, buildBackbone, loadBackboneWeights } from './build.js';
import { Classifier, ProjectionHead } from './heads.js';
import { fillByFormula, formulaInput } from './formula-weights.js';
import type { BackboneKind, DeepLabV3PlusConfig, OutputStride, ResNetKind } from './config.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/**
 * Bounds on |contraseg - PyTorch| written by the generator (scripts/fixtures/chain_bounds.py: a first-order
 * error analysis of float32 evaluation, stage by stage, computed in float64): the checksums, and some
 * sampled elements as [sample index, bound].
 */
interface SummaryBound { sum: number; absSum: number; sqSum: number; elements: [number, number][] }
interface Summary { shape: number[]; sample: number[]; sum: number; absSum: number; sqSum: number; bound?: SummaryBound }
interface Case {
  name: string; kind: BackboneKind; outputStride: OutputStride; width: number; aspp: number; reduction: number;
  decoder: number; input: number[]; features: Summary; embeddings?: Summary; logits?: Summary;
}
interface Fixture {
  sampleStep: number;
  torchvision: Record<ResNetKind, { keys: [string, number[]][]; parameterCount: number; fcParameterCount: number }>;
  counts: { deeplabv3plus: Record<ResNetKind, number>; heads: { projection: number; projectionBatchNorm: number; classifier21: number } };
  evalCases: Case[];
  trainCase: Case & { loss: number; runningMean: Record<string, Summary>; grads: Record<string, Summary> };
  checkpoint: { file: string; kind: ResNetKind; outputStride: OutputStride; width: number; input: number[]; low: Summary; high: Summary };
  mobilenetv2: { keys: [string, number[]][]; parameterCount: number; classifierParameterCount: number; deeplabv3plus: number };
  mobilenetv2Cases: { name: string; outputStride: OutputStride; width: number; input: number[]; low: Summary; high: Summary }[];
}

const fixture = JSON.parse(readFileSync(join(FIXTURES, 'models.json'), 'utf8')) as Fixture;
/** The sample keeps 8 significant digits: up to half a unit in the 8th digit off the float32 PyTorch printed. */
const SAMPLE_ROUNDING = 5e-8;
/** A float64 sum of n values carries <= n 2^-53 of their magnitude sum (Higham 3.1), on each side. */
const checksumRounding = (count: number, magnitude: number): number => 2 * count * 2 ** -53 * magnitude;

/** Relative bounds of the training case: sampled elements (scaled by the largest sampled magnitude) and checksums (scaled by the magnitude sum). */
interface Bounds { readonly element: number; readonly checksum: number }

/**
 * The training case: a forward and a backward through the whole network are a chain of reductions
 * (every conv, BatchNorm and the loss mean forward, each again backward), so depth = 2 x (convolutions
 * + BatchNorms + 1); the longest reduction is a weight gradient or batch statistic over B x H x W of the
 * stride-2 stem output (2 x 32 x 32 for the 2 x 3 x 64 x 64 input), longer than any conv's C_in x k x k here.
 * Unlike the eval cases this scales by the values' own magnitudes, not by a propagated error analysis
 * (training-mode BatchNorm renormalises every layer, which keeps errors from compounding, but that is a model,
 * not a proof; see float32ChainBound): the bound is ~2.5% of the magnitude sum.
 */
function trainBounds(network: Module, input: readonly number[]): Bounds {
  const layers = network.namedModules().filter(([, module]) => module instanceof Conv2d || module instanceof BatchNorm2d).length;
  const [batch, , height, width] = input as [number, number, number, number];
  const reduction = batch * Math.ceil(height / 2) * Math.ceil(width / 2);
  const bound = float32ChainBound(2 * (layers + 1), reduction);
  return { element: bound, checksum: bound };
}

interface Checksums { sum: number; absSum: number; sqSum: number; maxMagnitude: number }
function checksums(values: number[]): Checksums {
  let sum = 0; let absSum = 0; let sqSum = 0; let maxMagnitude = 0;
  for (const value of values) { sum += value; absSum += Math.abs(value); sqSum += value * value; maxMagnitude = Math.max(maxMagnitude, Math.abs(value)); }
  return { sum, absSum, sqSum, maxMagnitude };
}

/** Eval cases: the sampled elements and the checksums within the generator's bounds (SummaryBound). */
function assertMatches(actual: Tensor, expected: Summary, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const bound = expected.bound;
  assert.ok(bound !== undefined && bound.elements.length > 0, `${what}: the fixture has no error bounds: regenerate it with npm run fixtures`);
  const values = actual.toArray();
  assert.equal(Math.ceil(values.length / fixture.sampleStep), expected.sample.length, `${what}: sample size`);
  for (const [index, elementBound] of bound.elements) {
    const got = values[index * fixture.sampleStep];
    const want = expected.sample[index];
    const allowed = elementBound + SAMPLE_ROUNDING * Math.abs(want);
    assert.ok(Math.abs(got - want) <= allowed, `${what}: element ${index * fixture.sampleStep}: ${got} vs ${want}, |diff| > bound ${allowed}`);
  }
  const sums = checksums(values);
  const slack = (magnitude: number): number => checksumRounding(values.length, magnitude);
  assert.ok(Math.abs(sums.sum - expected.sum) <= bound.sum + slack(expected.absSum), `${what}: sum ${sums.sum} vs ${expected.sum} (bound ${bound.sum})`);
  assert.ok(Math.abs(sums.absSum - expected.absSum) <= bound.absSum + slack(expected.absSum),
    `${what}: abs sum ${sums.absSum} vs ${expected.absSum} (bound ${bound.absSum})`);
  assert.ok(Math.abs(sums.sqSum - expected.sqSum) <= bound.sqSum + slack(expected.sqSum),
    `${what}: square sum ${sums.sqSum} vs ${expected.sqSum} (bound ${bound.sqSum})`);
}

/** Training case: sampled elements within bounds.element of the largest sampled magnitude; float64 checksums within bounds.checksum of the magnitude sum. */
function assertMatchesRelative(actual: Tensor, expected: Summary, what: string, bounds: Bounds): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const values = actual.toArray();
  let maxError = 0;
  expected.sample.forEach((value, i) => { maxError = Math.max(maxError, Math.abs(values[i * fixture.sampleStep] - value)); });
  assert.equal(Math.ceil(values.length / fixture.sampleStep), expected.sample.length, `${what}: sample size`);
  const elementBound = bounds.element * expected.sample.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
  assert.ok(maxError <= elementBound, `${what}: max abs error ${maxError} > ${elementBound}`);
  const { sum, absSum, sqSum, maxMagnitude } = checksums(values);
  // sum of squares: |d sum x^2| <= sum 2|x||dx| <= 2 max|x| sum|dx| <= 2 max|x| x bound x sum|x|
  const sqBound = 2 * bounds.checksum * expected.absSum * maxMagnitude;
  assert.ok(Math.abs(sum - expected.sum) <= bounds.checksum * expected.absSum, `${what}: sum ${sum} vs ${expected.sum}`);
  assert.ok(Math.abs(absSum - expected.absSum) <= bounds.checksum * expected.absSum, `${what}: abs sum ${absSum} vs ${expected.absSum}`);
  assert.ok(Math.abs(sqSum - expected.sqSum) <= sqBound, `${what}: square sum ${sqSum} vs ${expected.sqSum}`);
}

function caseConfig(c: Case, asppDropout?: number): DeepLabV3PlusConfig {
  return { backbone: { kind: c.kind, outputStride: c.outputStride, widthMultiplier: c.width },
    asppChannels: c.aspp, reductionChannels: c.reduction, decoderChannels: c.decoder, asppDropout };
}

describe('torchvision ResNet compatibility (width 1)', () => {
  for (const kind of ['resnet18', 'resnet34', 'resnet50'] as const) {
    it(`${kind}: backbone keys, shapes and parameter count equal torchvision's (fc excluded); DeepLabV3+ count equals the reference`, () => {
      const reference = fixture.torchvision[kind];
      const network = buildModel({ backbone: { kind, outputStride: 16 } });
      try {
        const keys = [...network.backbone.stateDict()].map(([name, value]) => [name, value.shape]);
        assert.deepEqual(keys, reference.keys);
        assert.equal(network.backbone.parameterCount(), reference.parameterCount - reference.fcParameterCount);
        assert.equal(network.parameterCount(), fixture.counts.deeplabv3plus[kind]);
      } finally {
        network.dispose();
      }
    });
  }

  it('head parameter counts equal the reference', () => {
    const heads = [new ProjectionHead(256), new ProjectionHead(256, { batchNorm: true }), new Classifier(256, 21)];
    assert.deepEqual(heads.map((head) => head.parameterCount()),
      [fixture.counts.heads.projection, fixture.counts.heads.projectionBatchNorm, fixture.counts.heads.classifier21]);
    for (const head of heads) head.dispose();
  });
});

describe('forward passes match PyTorch (formula weights, eval mode)', () => {
  for (const c of fixture.evalCases) {
    it(`${c.name} (width ${c.width}, input [${c.input.join(', ')}])`, () => {
      const network = buildModel(caseConfig(c)).eval();
      fillByFormula(network);
      const heads = c.embeddings === undefined ? null : { projection: new ProjectionHead(c.decoder), classifier: new Classifier(c.decoder, 5) };
      if (heads !== null) { fillByFormula(heads.projection); fillByFormula(heads.classifier); }
      try {
        noGrad(() => scope(() => {
          const images = formulaInput(c.input);
          const features = network.forward(images);
          assertMatches(features, c.features, `${c.name} features`);
          if (heads !== null && c.embeddings !== undefined && c.logits !== undefined) {
            assertMatches(heads.projection.forward(features), c.embeddings, `${c.name} embeddings`);
            const logits = interpolate(heads.classifier.forward(features), [c.input[2], c.input[3]], 'bilinear', false);
            assertMatches(logits, c.logits, `${c.name} logits`);
          }
        }));
      } finally {
        network.dispose();
        if (heads !== null) { heads.projection.dispose(); heads.classifier.dispose(); }
      }
    });
  }

  it(`${fixture.trainCase.name}: training mode (dropout 0) matches outputs, running statistics and gradients`, () => {
    const c = fixture.trainCase;
    const network = buildModel(caseConfig(c, 0)).train();
    fillByFormula(network);
    try {
      scope(() => {
        const bounds = trainBounds(network, c.input);
        const features = network.forward(formulaInput(c.input));
        assertMatchesRelative(features, c.features, 'train features', bounds);
        const loss = features.mul(features).mean();
        assert.ok(Math.abs(loss.item() - c.loss) <= bounds.checksum * Math.abs(c.loss), `loss ${loss.item()} vs ${c.loss}`); // a mean of squares: no cancellation
        loss.backward();
        const state = network.stateDict();
        for (const [name, expected] of Object.entries(c.runningMean)) assertMatchesRelative(state.get(name) as Tensor, expected, name, bounds);
        const parameters = new Map(network.namedParameters());
        for (const [name, expected] of Object.entries(c.grads)) assertMatchesRelative(parameters.get(name)?.grad as Tensor, expected, `${name}.grad`, bounds);
      });
    } finally {
      network.dispose();
    }
  });
});

describe('torchvision-layout checkpoint written by the documented snippet', () => {
  it('loads with loadBackboneWeights (fc ignored) and reproduces PyTorch\'s features', () => {
    const c = fixture.checkpoint;
    const backbone = buildBackbone({ kind: c.kind, outputStride: c.outputStride, widthMultiplier: c.width });
    try {
      const result = loadBackboneWeights(backbone, join(FIXTURES, c.file));
      assert.deepEqual(result.ignored, ['fc.weight', 'fc.bias']);
      backbone.eval();
      noGrad(() => scope(() => {
        const { low, high } = backbone.forward(formulaInput(c.input));
        assertMatches(low, c.low, 'low');
        assertMatches(high, c.high, 'high');
      }));
    } finally {
      backbone.dispose();
    }
  });
});

describe('torchvision MobileNetV2 compatibility', () => {
  it('backbone keys, shapes and parameter count equal torchvision\'s mobilenet_v2 (classifier excluded) at OS 8 and 16; ' +
    'DeepLabV3+ count equals the reference', () => {
    const reference = fixture.mobilenetv2;
    for (const outputStride of [8, 16] as const) {
      const backbone = buildBackbone({ kind: 'mobilenetv2', outputStride });
      try {
        assert.deepEqual([...backbone.stateDict()].map(([name, value]) => [name, value.shape]), reference.keys);
        assert.equal(backbone.parameterCount(), reference.parameterCount - reference.classifierParameterCount);
      } finally {
        backbone.dispose();
      }
    }
    const network = buildModel({ backbone: { kind: 'mobilenetv2', outputStride: 16 } });
    try {
      assert.equal(network.parameterCount(), reference.deeplabv3plus);
    } finally {
      network.dispose();
    }
  });

  for (const c of fixture.mobilenetv2Cases) {
    it(`${c.name}: backbone features match PyTorch (formula weights, eval mode, input [${c.input.join(', ')}])`, () => {
      const backbone = buildBackbone({ kind: 'mobilenetv2', outputStride: c.outputStride, widthMultiplier: c.width }).eval();
      fillByFormula(backbone);
      try {
        noGrad(() => scope(() => {
          const { low, high } = backbone.forward(formulaInput(c.input));
          assertMatches(low, c.low, `${c.name} low`);
          assertMatches(high, c.high, `${c.name} high`);
        }));
      } finally {
        backbone.dispose();
      }
    });
  }
});
