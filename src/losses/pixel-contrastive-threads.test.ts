// The contrastive kernels with 2 intra-op threads: column gradients are accumulated over column blocks,
// one thread per block, and anchor chunks run in rounds of one chunk per thread (contrastive_kernel.cc).
// Values and gradients against the float64 PyTorch oracle (scripts/fixtures/contrastive.py), with chunk
// sizes that put several rounds, short last chunks and single-row chunks on the seams.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tensor } from '../torch/creation.js';
import { getNumThreads, liveTensorCount, noGrad, scope, setNumThreads } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import {
  batchContrastiveLoss, crossImageContrastiveLoss, officialContrastiveLoss, withinImageContrastiveLoss, PAPER_TEMPERATURE,
  type CrossImageContrastiveOptions, type OfficialContrastiveOptions,
} from './pixel-contrastive.js';
import { setChunkRowsForTesting } from './contrastive-inputs.js';

interface Spec { shape: number[]; data: number[] }
interface FixtureCase {
  name: string;
  loss: 'within' | 'cross' | 'batch' | 'official';
  options: Record<string, unknown>;
  features: Spec; labels: Spec; distortedFeatures: Spec; distortedLabels: Spec;
  value: number; gradFeatures: Spec; gradDistorted: Spec;
}
const fixture = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'contrastive.json'),
  'utf8')) as { cases: FixtureCase[] };

type LossFn = (f: Tensor, l: Tensor, g: Tensor, m: Tensor) => Tensor;

function lossOf(kind: FixtureCase['loss'], options: Record<string, unknown>): LossFn {
  switch (kind) {
    case 'within': return (f, l, g, m) => withinImageContrastiveLoss(f, l, g, m, options);
    case 'cross': return (f, l, g, m) => crossImageContrastiveLoss(f, l, g, m, options as CrossImageContrastiveOptions);
    case 'batch': return (f, l, g, m) => batchContrastiveLoss(f, l, g, m, options);
    case 'official': return (f, l, g, m) => officialContrastiveLoss(f, l, g, m, options as unknown as OfficialContrastiveOptions);
    default: { const never: never = kind; throw new Error(`unknown loss ${String(never)}`); }
  }
}

const UNIT_ROUNDOFF = 2 ** -53;
const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Rounding budget of a float64 case, relative to max |expected|. With n = pixels of both views (a bound
 * on every anchor, contrast and positive set), D channels, temperature tau and unit-norm features:
 * s = f.g / tau carries <= D u / tau absolute error, exp(s - lse) turns that (and lse's n-term sum) into
 * <= (D + n) u / tau relative error per softmax weight, and a gradient entry sums n weighted unit vectors;
 * a factor n more covers the cancellation between its softmax and positive terms, each a mean of unit
 * vectors. A partitioning bug (a column block skipped or added twice, a race) is an O(1) error instead.
 */
function tolerance(testCase: FixtureCase): number {
  const n = count(testCase.labels.shape) + count(testCase.distortedLabels.shape);
  const channels = testCase.features.shape[1];
  const tau = (testCase.options.temperature as number | undefined) ?? PAPER_TEMPERATURE;
  return (n * n * (channels + n) * UNIT_ROUNDOFF) / tau;
}

function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / Math.max(scale, 1e-300);
}

const labelTensor = (spec: Spec): Tensor => tensor(BigInt64Array.from(spec.data, (v) => BigInt(v)), spec.shape);

/** Value and both gradients of a case in float64 (zeros for an input that got no gradient). */
function evaluate(testCase: FixtureCase): { value: number; grads: [number[], number[]] } {
  return scope(() => {
    const features = tensor(Float64Array.from(testCase.features.data), testCase.features.shape, { requiresGrad: true });
    const distorted = tensor(Float64Array.from(testCase.distortedFeatures.data), testCase.distortedFeatures.shape,
      { requiresGrad: true });
    const loss = lossOf(testCase.loss, testCase.options)(features, labelTensor(testCase.labels), distorted,
      labelTensor(testCase.distortedLabels));
    const value = loss.item();
    loss.backward();
    const gradOf = (input: Tensor, spec: Spec): number[] => input.grad?.toArray() ?? new Array<number>(spec.data.length).fill(0);
    return { value, grads: [gradOf(features, testCase.gradFeatures), gradOf(distorted, testCase.gradDistorted)] };
  });
}

let threadsBefore = 1;
before(() => {
  threadsBefore = getNumThreads();
  setNumThreads(2);
});
after(() => {
  setChunkRowsForTesting(0);
  setNumThreads(threadsBefore);
});

describe('pixel-contrastive losses with 2 threads vs the float64 PyTorch oracle', () => {
  for (const testCase of fixture.cases) {
    for (const chunkRows of [0, 1, 3]) {
      it(`${testCase.name} (${chunkRows === 0 ? 'automatic chunks' : `${chunkRows}-row chunks`})`, () => {
        assert.equal(getNumThreads(), 2, 'the test must run the kernels on 2 intra-op threads');
        setChunkRowsForTesting(chunkRows);
        const live = liveTensorCount();
        const { value, grads } = evaluate(testCase);
        assert.equal(liveTensorCount(), live, 'tensors leaked');
        const budget = tolerance(testCase);
        assert.ok(relativeError([value], [testCase.value]) <= budget, `value ${value} != ${testCase.value}`);
        const expected = [testCase.gradFeatures, testCase.gradDistorted];
        ['features', 'distortedFeatures'].forEach((name, k) => {
          const error = relativeError(grads[k], expected[k].data);
          assert.ok(error <= budget, `gradient of ${name}: relative error ${error} > ${budget}`);
        });
      });
    }
  }
});

describe('2 threads agree with 1 thread on inputs large enough for automatic multi-round chunks', () => {
  // B = 2, D = 8, 16x16: N = M = 512 pixels per view, 128-row chunks with 2 threads, so 4 chunks in 2 rounds
  // and 2 column blocks of 256 (batch: N = M = 1024). Reference: the same kernels on 1 thread (one round
  // per chunk, one column block), which the oracle tests above pin to PyTorch.
  const shape = [2, 8, 16, 16];
  const pixels = 2 * 16 * 16;
  const random = mulberry(7);
  const unitFeatures = (): number[] => {
    const values = Array.from({ length: count(shape) }, () => random() * 2 - 1);
    return noGrad(() => scope(() => {
      const raw = tensor(Float64Array.from(values), shape);
      return raw.div(raw.mul(raw).sum(1, true).sqrt()).toArray();
    }));
  };
  const labels = (): number[] => Array.from({ length: pixels }, () => (random() < 0.1 ? 255 : Math.floor(random() * 4)));
  const base = {
    options: {}, value: 0,
    features: { shape, data: unitFeatures() }, labels: { shape: [2, 16, 16], data: labels() },
    distortedFeatures: { shape, data: unitFeatures() }, distortedLabels: { shape: [2, 16, 16], data: labels() },
    gradFeatures: { shape, data: [] }, gradDistorted: { shape, data: [] },
  };
  for (const [loss, options] of [['within', {}], ['cross', {}], ['batch', {}],
    ['official', { mode: 'cross', ignoreLabels: [255], temperature: 0.1 }]] as const) {
    it(loss, () => {
      const testCase: FixtureCase = { ...base, name: loss, loss, options };
      setChunkRowsForTesting(0);
      setNumThreads(1);
      const single = evaluate(testCase);
      setNumThreads(2);
      const double = evaluate(testCase);
      const budget = tolerance(testCase);
      assert.ok(relativeError([double.value], [single.value]) <= budget, `value ${double.value} != ${single.value}`);
      for (let k = 0; k < 2; k++) {
        const error = relativeError(double.grads[k], single.grads[k]);
        assert.ok(error <= budget, `gradient ${k}: relative error ${error} > ${budget}`);
        assert.ok(single.grads[k].some((v) => v !== 0), `gradient ${k} is all zero: the case tests nothing`);
      }
    });
  }
});

function mulberry(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}
