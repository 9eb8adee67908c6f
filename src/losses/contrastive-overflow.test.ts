// Numerical edge cases of the pixel-contrastive losses: tau = 0.01 with unnormalised features x1e4, where
// exp(s) overflows even float64 (s = f.g / tau ~ 1e10), against a float64 PyTorch oracle that uses
// logsumexp (scripts/fixtures/contrastive_overflow.py); and batches whose pixels are all ignored, whose
// hand answer is a loss of exactly 0 with exactly zero gradients.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { full, manualSeed, randn, tensor } from '../torch/creation.js';
import { liveTensorCount, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import {
  batchContrastiveLoss, crossImageContrastiveLoss, officialContrastiveLoss, withinImageContrastiveLoss,
} from './pixel-contrastive.js';

interface Spec { shape: number[]; data: number[] }
interface OverflowCase {
  name: string;
  loss: 'within' | 'cross' | 'batch' | 'official';
  options: { temperature: number; mode?: 'within' | 'cross'; ignoreLabels?: number[] };
  features: Spec; labels: Spec; distortedFeatures: Spec; distortedLabels: Spec;
  value: number; gradFeatures: Spec; gradDistorted: Spec;
}
const fixture = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'contrastive-overflow.json'),
  'utf8')) as { cases: OverflowCase[] };

type Float = 'float32' | 'float64';
type LossFn = (features: Tensor, labels: Tensor, distorted: Tensor, distortedLabels: Tensor) => Tensor;

function lossFor(kind: OverflowCase['loss'], options: OverflowCase['options']): LossFn {
  const temperature = options.temperature;
  switch (kind) {
    case 'within': return (f, l, g, m) => withinImageContrastiveLoss(f, l, g, m, { temperature });
    case 'cross': return (f, l, g, m) => crossImageContrastiveLoss(f, l, g, m, { temperature });
    case 'batch': return (f, l, g, m) => batchContrastiveLoss(f, l, g, m, { temperature });
    case 'official': return (f, l, g, m) => officialContrastiveLoss(f, l, g, m,
      { temperature, mode: options.mode ?? 'within', ignoreLabels: options.ignoreLabels ?? [255] });
    default: { const never: never = kind; throw new Error(`unknown loss ${String(never)}`); }
  }
}

const floats = (spec: Spec, dtype: Float): Tensor =>
  tensor(dtype === 'float32' ? Float32Array.from(spec.data) : Float64Array.from(spec.data), spec.shape, { requiresGrad: true });
const labelTensor = (spec: Spec): Tensor => tensor(BigInt64Array.from(spec.data, (v) => BigInt(v)), spec.shape);

/** Unit roundoff of a dtype and gamma_n = n u / (1 - n u), the bound of an n-term float sum's relative error (Higham). */
const unitRoundoff = (dtype: Float): number => (dtype === 'float32' ? 2 ** -24 : 2 ** -53);
const gamma = (n: number, u: number): number => (n * u) / (1 - n * u);

/** max over pixel pairs (p in either view, k in either view) of sum_d |f_pd g_kd|: the scale of every s * tau. */
function maxAbsDot(first: Spec, second: Spec): number {
  const [batch, channels] = first.shape as [number, number];
  const pixelsOf = (spec: Spec): number[][] => {
    const per = (spec.shape[2] as number) * (spec.shape[3] as number);
    const rows: number[][] = [];
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < per; i++) rows.push(Array.from({ length: channels }, (_, d) => spec.data[(b * channels + d) * per + i] as number));
    }
    return rows;
  };
  const all = [...pixelsOf(first), ...pixelsOf(second)];
  let max = 0;
  for (const p of all) for (const k of all) max = Math.max(max, p.reduce((sum, value, d) => sum + Math.abs(value * (k[d] as number)), 0));
  return max;
}

function maxAbs(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i] as number));
  return max;
}

describe('tau = 0.01 with features x1e4: exp overflows, the loss and its gradients do not', () => {
  for (const testCase of fixture.cases) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${testCase.name} (${dtype})`, () => {
        const live = liveTensorCount();
        scope(() => {
          const features = floats(testCase.features, dtype);
          const distorted = floats(testCase.distortedFeatures, dtype);
          const loss = lossFor(testCase.loss, testCase.options)(features, labelTensor(testCase.labels), distorted, labelTensor(testCase.distortedLabels));
          const value = loss.item();
          loss.backward();
          const gradients = [features.grad, distorted.grad].map((grad) => (grad === null ? new Float64Array(0) : Float64Array.from(grad.toTypedArray() as Float32Array)));
          for (const grad of gradients) assert.ok(grad.every(Number.isFinite), `${testCase.name}: a gradient is not finite`);
          assert.ok(Number.isFinite(value), `${testCase.name}: loss ${value}`);
          // Each s = f.g / tau is off by at most (gamma_D + u) A / tau (A = max sum_d |f_d g_d|); a loss term
          // logsumexp(s) - s_q (or - mean s_q) moves by at most twice that, plus u |max s| from adding the
          // max-shift back and the log's rounding; the means over at most N terms add gamma_N |loss|.
          const u = unitRoundoff(dtype);
          const channels = testCase.features.shape[1] as number;
          const pixels = testCase.labels.data.length + testCase.distortedLabels.data.length;
          const scale = maxAbsDot(testCase.features, testCase.distortedFeatures) / testCase.options.temperature;
          const bound = (2 * gamma(channels, u) + 4 * u) * scale + gamma(2 * pixels, u) * Math.abs(testCase.value);
          assert.ok(Math.abs(value - testCase.value) <= bound,
            `${testCase.name}: ${value} vs PyTorch float64 ${testCase.value}, |diff| ${Math.abs(value - testCase.value)} > ${bound}`);
          if (dtype === 'float64') {
            // In float64 the s are exact to ~1e-5 of their ~1e10: softmax weights move by at most that / 4,
            // so each gradient entry is within ~1e-5 x (2 max |g| / tau) of the oracle's; 1e-5 relative is generous.
            const expected = [testCase.gradFeatures.data, testCase.gradDistorted.data];
            gradients.forEach((grad, i) => {
              const want = expected[i] as number[];
              if (grad.length === 0) return assert.ok(want.every((v) => v === 0), 'no gradient where PyTorch has one');
              const tolerance = 1e-5 * maxAbs(want);
              grad.forEach((v, j) => assert.ok(Math.abs(v - (want[j] as number)) <= tolerance, `${testCase.name}: gradient[${i}][${j}] ${v} vs ${want[j]}`));
            });
          }
        });
        assert.equal(liveTensorCount(), live);
      });
    }
  }
});

describe('a batch whose pixels are all ignored: loss 0, gradients 0, for every loss', () => {
  const cases: [string, LossFn][] = [
    ['within', (f, l, g, m) => withinImageContrastiveLoss(f, l, g, m)],
    ['cross', (f, l, g, m) => crossImageContrastiveLoss(f, l, g, m)],
    ['batch', (f, l, g, m) => batchContrastiveLoss(f, l, g, m)],
    ['official within', (f, l, g, m) => officialContrastiveLoss(f, l, g, m, { ignoreLabels: [255], mode: 'within' })],
    ['official cross', (f, l, g, m) => officialContrastiveLoss(f, l, g, m, { ignoreLabels: [255], mode: 'cross' })],
  ];
  for (const [name, loss] of cases) {
    it(`${name}: no anchor, so the hand answer is exactly 0 with zero gradients (not 0/0 = NaN)`, () => {
      const live = liveTensorCount();
      scope(() => {
        manualSeed(4);
        const features = tensor(randn([3, 8, 4, 5]).toTypedArray(), [3, 8, 4, 5], { requiresGrad: true });
        const distorted = tensor(randn([3, 8, 4, 5]).toTypedArray(), [3, 8, 4, 5], { requiresGrad: true });
        const ignored = full([3, 4, 5], 255, 'int64');
        const value = loss(features, ignored, distorted, ignored);
        assert.equal(value.item(), 0);
        value.backward();
        for (const input of [features, distorted]) {
          const grad = input.grad;
          // official within never reads view 2: no gradient at all is the same zero
          if (grad !== null) assert.ok((grad.toTypedArray() as Float32Array).every((v) => v === 0), `${name}: gradient not all zero`);
        }
        assert.ok(features.grad !== null, `${name}: the loss is still connected to the features (backward reaches them)`);
      });
      assert.equal(liveTensorCount(), live);
    });
  }
});
