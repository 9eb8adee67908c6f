// The pixel-contrastive losses against an independent dense PyTorch oracle (scripts/fixtures/contrastive.py),
// the values of the released code's own test, finite differences, leak checks and input validation.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tensor } from '../torch/creation.js';
import { liveTensorCount, noGrad, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { ConfigError, ShapeError } from '../errors.js';
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

type Float = 'float32' | 'float64';
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

function floats(spec: Spec, dtype: Float, requiresGrad = true): Tensor {
  const data = dtype === 'float32' ? Float32Array.from(spec.data) : Float64Array.from(spec.data);
  return tensor(data, spec.shape, { requiresGrad });
}
function labelTensor(spec: { shape: number[]; data: number[] }): Tensor {
  return tensor(BigInt64Array.from(spec.data, (v) => BigInt(v)), spec.shape);
}

const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const unitRoundoff = (dtype: Float): number => (dtype === 'float32' ? 2 ** -24 : 2 ** -53);

/**
 * Rounding bounds against the float64 oracle (its own error, ~1e-16 relative, is negligible), n = pixels
 * of both views, D channels, tau the temperature, unit-norm features, u of the dtype under test.
 * Value: each similarity s = f.g / tau is off by <= D u / tau (an inner product of unit vectors), a
 * logsumexp over <= n terms adds (n + 4) u, a positive mean n u / tau; per anchor <= (2 D + 2 n + 8) u / tau,
 * and the mean over anchors n u |L|: absolute <= ((2 D + 2 n + 8) / tau + n |L|) u.
 * Gradients, relative to max |expected|: the argument of pixel-contrastive-threads.test.ts,
 * n^2 (D + n) u / tau (each softmax weight (D + n) u / tau relative, n weighted unit vectors per entry, and a
 * factor n for the cancellation between its softmax and positive terms). In float32 that is 0.004-0.27:
 * it catches a wrong formula or a skipped block, not a 1e-3 slip; the float64 runs of the same kernels
 * (bounds ~1e-10) pin the arithmetic.
 */
function valueBound(testCase: FixtureCase, dtype: Float): number {
  const n = count(testCase.labels.shape) + count(testCase.distortedLabels.shape);
  const channels = testCase.features.shape[1];
  const tau = (testCase.options.temperature as number | undefined) ?? PAPER_TEMPERATURE;
  return ((2 * channels + 2 * n + 8) / tau + n * Math.abs(testCase.value)) * unitRoundoff(dtype);
}
function gradientBound(testCase: FixtureCase, dtype: Float): number {
  const n = count(testCase.labels.shape) + count(testCase.distortedLabels.shape);
  const channels = testCase.features.shape[1];
  const tau = (testCase.options.temperature as number | undefined) ?? PAPER_TEMPERATURE;
  return (n * n * (channels + n) * unitRoundoff(dtype)) / tau;
}

/** max |actual - expected| / max |expected| (absolute when expected is all zero). */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / Math.max(scale, 1e-6);
}

function assertNoLeak(what: string, fn: () => void): void {
  const before = liveTensorCount();
  scope(fn);
  assert.equal(liveTensorCount() - before, 0, `${what}: tensors leaked`);
}

afterEach(() => setChunkRowsForTesting(0));

describe('pixel-contrastive losses vs the dense PyTorch oracle', () => {
  for (const testCase of fixture.cases) {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const chunkRows of [0, 3]) {
        it(`${testCase.name} (${dtype}, ${chunkRows === 0 ? 'automatic chunks' : `${chunkRows}-row chunks`})`, () => {
          setChunkRowsForTesting(chunkRows);
          assertNoLeak(testCase.name, () => {
            const features = floats(testCase.features, dtype);
            const distorted = floats(testCase.distortedFeatures, dtype);
            const loss = lossOf(testCase.loss, testCase.options)(features, labelTensor(testCase.labels), distorted,
              labelTensor(testCase.distortedLabels));
            assert.deepEqual(loss.shape, []);
            const allowed = valueBound(testCase, dtype);
            assert.ok(Math.abs(loss.item() - testCase.value) <= allowed, `value ${loss.item()} != ${testCase.value} (bound ${allowed})`);
            loss.backward();
            for (const [input, expected, name] of [[features, testCase.gradFeatures, 'features'],
              [distorted, testCase.gradDistorted, 'distortedFeatures']] as const) {
              const grad = input.grad?.toArray() ?? new Array<number>(expected.data.length).fill(0);
              const error = relativeError(grad, expected.data);
              assert.ok(error <= gradientBound(testCase, dtype), `gradient of ${name}: relative error ${error} > ${gradientBound(testCase, dtype)}`);
            }
          });
        });
      }
    }
  }
});

describe('officialContrastiveLoss: the released test (contrastive_loss_test.py)', () => {
  // Per image 4x4 labels, sorted; batch 2; features = labels as one channel; tau = 1; ignore -2 and -1.
  const perImage = [-2, -2, -1, -1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3];
  const labels = (): Tensor => labelTensor({ shape: [2, 4, 4], data: [...perImage, ...perImage] });
  const features = (scale: number): Tensor => tensor([...perImage, ...perImage].map((v) => v * scale), [2, 1, 4, 4]);
  const options = (mode: 'within' | 'cross'): OfficialContrastiveOptions => ({ temperature: 1, ignoreLabels: [-2, -1], mode });
  // float32 against values printed to 8 digits (<= 5e-8 off): the features are small integers and tau = 1, so every
  // similarity is exact; per anchor a logsumexp over <= n terms ((n + 4) u) and a positive mean (n u), and the mean
  // over anchors n u |L|: <= (2 n + 8 + n |L|) u, n = 32 pixels (within) or 64 (cross, both views).
  const releasedBound = (pixels: number, value: number): number => (2 * pixels + 8 + pixels * value) * 2 ** -24;

  it('within = 2.4503216', () => assertNoLeak('within', () => {
    const loss = officialContrastiveLoss(features(1), labels(), features(2), labels(), options('within'));
    assert.ok(Math.abs(loss.item() - 2.4503216) <= releasedBound(32, 2.4503216) + 5e-8, `got ${loss.item()}`);
  }));
  it('cross = 5.46027374, symmetric in its two inputs', () => assertNoLeak('cross', () => {
    const forward = officialContrastiveLoss(features(1), labels(), features(2), labels(), options('cross')).item();
    const swapped = officialContrastiveLoss(features(2), labels(), features(1), labels(), options('cross')).item();
    assert.ok(Math.abs(forward - 5.46027374) <= releasedBound(64, 5.46027374) + 5e-9, `got ${forward}`);
    assert.ok(Math.abs(swapped - forward) <= 2 * releasedBound(64, 5.46027374), `swapped ${swapped} != ${forward}`); // two float32 evaluations
  }));
});

/** Central differences of every coordinate of both feature tensors (float64) against autograd. */
function checkGradients(what: string, loss: LossFn, shapes: [number[], number[]], labels: [number[], number[]],
  seed: number): void {
  assertNoLeak(what, () => {
    const random = mulberry(seed);
    const values = shapes.map((shape) => Float64Array.from({ length: shape.reduce((a, b) => a * b) }, () => random() * 2 - 1));
    const labelTensors = labels.map((data, k) => labelTensor({ shape: [shapes[k][0], shapes[k][2], shapes[k][3]], data }));
    const evaluate = (inputs: Float64Array[]): number => noGrad(() => scope(() =>
      loss(tensor(inputs[0], shapes[0]), labelTensors[0], tensor(inputs[1], shapes[1]), labelTensors[1]).item()));
    const leaves = values.map((data, k) => tensor(data, shapes[k], { requiresGrad: true }));
    loss(leaves[0], labelTensors[0], leaves[1], labelTensors[1]).backward();
    // float64 central differences: truncation <= step^2 / 6 |L'''| (~1e-12 / tau^3 < 1e-8 here) and roundoff
    // <= 2 n u64 |L| / (2 step) (~4e-8 for n = 64 terms, |L| < 6), both far below 1e-6 + 1e-5 |numeric|.
    const step = 1e-6;
    for (let k = 0; k < 2; k++) {
      const analytic = leaves[k].grad?.toArray() ?? new Array<number>(values[k].length).fill(0);
      for (let i = 0; i < values[k].length; i++) {
        const perturbed = (delta: number): number => {
          const inputs = values.map((data) => Float64Array.from(data));
          inputs[k][i] += delta;
          return evaluate(inputs);
        };
        const numeric = (perturbed(step) - perturbed(-step)) / (2 * step);
        assert.ok(Math.abs(numeric - analytic[i]) <= 1e-6 + 1e-5 * Math.abs(numeric),
          `${what}: d/d(input ${k})[${i}]: autograd ${analytic[i]}, finite differences ${numeric}`);
      }
    }
  });
}

function mulberry(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

describe('finite-difference gradient checks (float64, 2-row chunks)', () => {
  // 3 images of 3x3 pixels; 255 = ignored; image 2 of view 1 has a class (3) absent from every view 2.
  const labels: [number[], number[]] = [
    [0, 1, 1, 2, 255, 0, 2, 2, 1, 1, 1, 1, 0, 0, 255, 0, 1, 2, 3, 3, 0, 255, 1, 1, 2, 2, 0],
    [1, 0, 255, 2, 2, 0, 1, 1, 0, 2, 2, 1, 1, 0, 0, 255, 1, 1, 0, 1, 1, 1, 2, 2, 0, 255, 255],
  ];
  const shapes: [number[], number[]] = [[3, 4, 3, 3], [3, 4, 3, 3]];
  const cases: [string, LossFn][] = [
    ['within', (f, l, g, m) => withinImageContrastiveLoss(f, l, g, m, { temperature: 0.5 })],
    ['cross', (f, l, g, m) => crossImageContrastiveLoss(f, l, g, m, { temperature: 0.5, partner: [2, 0, 0] })],
    ['batch', (f, l, g, m) => batchContrastiveLoss(f, l, g, m, { temperature: 0.5 })],
    ['official within', (f, l, g, m) => officialContrastiveLoss(f, l, g, m, { temperature: 0.5, ignoreLabels: [255], mode: 'within' })],
    ['official cross', (f, l, g, m) => officialContrastiveLoss(f, l, g, m, { temperature: 0.5, ignoreLabels: [255], mode: 'cross' })],
  ];
  cases.forEach(([name, loss], index) => it(name, () => {
    setChunkRowsForTesting(2);
    checkGradients(name, loss, shapes, labels, 7 + index);
  }));
});

describe('pixel-contrastive losses: ownership and autograd wiring', () => {
  const shape = [2, 3, 2, 3];
  const make = (requiresGrad: boolean): Tensor => tensor(Float32Array.from({ length: 36 }, (_, i) => Math.sin(i)), shape,
    { requiresGrad });
  const labels = (): Tensor => labelTensor({ shape: [2, 2, 3], data: [0, 1, 1, 255, 0, 2, 2, 2, 0, 1, 255, 0] });

  for (const [name, loss] of [['within', lossOf('within', {})], ['cross', lossOf('cross', {})],
    ['batch', lossOf('batch', {})], ['official', lossOf('official', { ignoreLabels: [255], mode: 'cross' })]] as const) {
    it(`${name}: loss, backward and gradients leave no live tensor behind`, () => {
      const before = liveTensorCount();
      scope(() => {
        const features = make(true);
        const distorted = make(true);
        loss(features, labels(), distorted, labels()).backward();
        assert.ok(features.grad !== null && distorted.grad !== null);
      });
      assert.equal(liveTensorCount(), before);
    });
    it(`${name}: under noGrad, and with only one view requiring grad`, () => assertNoLeak(name, () => {
      const value = noGrad(() => loss(make(false), labels(), make(false), labels()));
      assert.equal(value.requiresGrad, false);
      const features = make(true);
      const frozen = make(false);
      const tracked = loss(features, labels(), frozen, labels());
      assert.ok(Math.abs(tracked.item() - value.item()) < 1e-6);
      tracked.backward();
      assert.ok(features.grad !== null);
      assert.equal(frozen.grad, null);
    }));
  }
  it('accepts non-contiguous (channels-last) feature views, with the same value and gradients', () => assertNoLeak('views', () => {
    const channelsLast = (requiresGrad: boolean): Tensor => {
      // [B, H, W, D] storage seen as [B, D, H, W]
      const storage = tensor(Float32Array.from({ length: 36 }, (_, i) => Math.cos(1.7 * i)), [2, 2, 3, 3]);
      const view = storage.permute([0, 3, 1, 2]);
      return requiresGrad ? view.detach().setRequiresGrad(true) : view;
    };
    const strided = channelsLast(true);
    const contiguous = channelsLast(false).contiguous().setRequiresGrad(true);
    const loss = lossOf('cross', {});
    const a = loss(strided, labels(), make(false), labels());
    const b = loss(contiguous, labels(), make(false), labels());
    assert.ok(Math.abs(a.item() - b.item()) < 1e-6);
    a.backward();
    b.backward();
    assert.deepEqual(strided.grad?.shape, shape);
    assert.ok(relativeError(strided.grad?.toArray() ?? [], contiguous.grad?.toArray() ?? []) < 1e-6);
  }));
});

describe('pixel-contrastive losses: input validation', () => {
  const features = (shape: number[], dtype: Float = 'float32'): Tensor =>
    floats({ shape, data: new Array<number>(shape.reduce((a, b) => a * b)).fill(0.5) }, dtype, false);
  const labels = (shape: number[]): Tensor => labelTensor({ shape, data: new Array<number>(shape.reduce((a, b) => a * b)).fill(1) });
  const throwsWith = (fn: () => unknown, type: typeof ShapeError | typeof ConfigError, pattern: RegExp): void =>
    assertNoLeak('validation', () => assert.throws(fn, (error: unknown) => error instanceof type && pattern.test((error as Error).message)));

  it('rejects features that are not float [B, D, H, W]', () => throwsWith(
    () => withinImageContrastiveLoss(features([2, 4, 3]), labels([2, 4, 3]), features([2, 4, 3, 3]), labels([2, 3, 3])),
    ShapeError, /withinImageContrastiveLoss: features must be a float32 tensor \[B, D, H, W\].*got float32 \[2, 4, 3\]/));
  it('rejects labels of another dtype or size, saying how to fix them', () => {
    throwsWith(() => withinImageContrastiveLoss(features([2, 4, 3, 3]), features([2, 3, 3]), features([2, 4, 3, 3]),
      labels([2, 3, 3])), ShapeError, /labels must be int64 \[2, 3, 3\].*got float32 \[2, 3, 3\].*\.to\('int64'\)/);
    throwsWith(() => batchContrastiveLoss(features([2, 4, 3, 3]), labels([2, 3, 3]), features([2, 4, 3, 3]),
      labels([2, 6, 6])), ShapeError, /distortedLabels must be int64 \[2, 3, 3\].*nearest/);
  });
  it('rejects views with different batch size, channels or dtype', () => {
    throwsWith(() => withinImageContrastiveLoss(features([2, 4, 3, 3]), labels([2, 3, 3]), features([2, 5, 3, 3]),
      labels([2, 3, 3])), ShapeError, /distortedFeatures float32 \[2, 5, 3, 3\] must have the batch size, channels/);
    throwsWith(() => officialContrastiveLoss(features([2, 4, 3, 3]), labels([2, 3, 3]), features([2, 4, 3, 3], 'float64'),
      labels([2, 3, 3]), { ignoreLabels: [], mode: 'cross' }), ShapeError, /features2 float64/);
  });
  it('cross-image: needs two images and a valid partner list', () => {
    throwsWith(() => crossImageContrastiveLoss(features([1, 4, 3, 3]), labels([1, 3, 3]), features([1, 4, 3, 3]),
      labels([1, 3, 3])), ShapeError, /B >= 2; got B = 1/);
    throwsWith(() => crossImageContrastiveLoss(features([2, 4, 3, 3]), labels([2, 3, 3]), features([2, 4, 3, 3]),
      labels([2, 3, 3]), { partner: [0, 1] }), ConfigError, /partner\[b\] != b\); got \[0, 1\]/);
  });
  it('rejects a non-positive temperature, a fractional ignoreIndex and an unknown mode', () => {
    throwsWith(() => withinImageContrastiveLoss(features([2, 4, 3, 3]), labels([2, 3, 3]), features([2, 4, 3, 3]),
      labels([2, 3, 3]), { temperature: 0 }), ConfigError, /temperature must be a finite number > 0, got 0/);
    throwsWith(() => withinImageContrastiveLoss(features([2, 4, 3, 3]), labels([2, 3, 3]), features([2, 4, 3, 3]),
      labels([2, 3, 3]), { ignoreIndex: 0.5 }), ConfigError, /ignoreIndex must be an integer/);
    throwsWith(() => officialContrastiveLoss(features([2, 4, 3, 3]), labels([2, 3, 3]), features([2, 4, 3, 3]),
      labels([2, 3, 3]), { ignoreLabels: [], mode: 'both' as 'cross' }), ConfigError, /mode must be 'within' or 'cross'/);
  });
});
