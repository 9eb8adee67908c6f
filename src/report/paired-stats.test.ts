import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanAndStd } from './aggregate.js';
import { describeGain, interval95, pairedClassGains, pitmanMorgan, studentT975, withBaselineFrom } from './paired-stats.js';
import type { EvaluationSummary, SweepCell } from './results.js';

test('pitmanMorgan: a hand-worked case', () => {
  // a = 0, 2, 4, 6 and b = 1, 1, 3, 3: sums 1, 3, 7, 9 (deviations -4, -2, 2, 4), differences -1, 1, 1, 3
  // (deviations -2, 0, 0, 2); r = 16 / sqrt(40 * 8) = 2 / sqrt(5), t = r sqrt(2) / sqrt(1 - 4/5) = 2 sqrt(2).
  const result = pitmanMorgan([0, 2, 4, 6], [1, 1, 3, 3]);
  assert.ok(result !== null);
  assert.ok(Math.abs(result.r - 2 / Math.sqrt(5)) < 1e-12);
  assert.ok(Math.abs(result.t - 2 * Math.SQRT2) < 1e-12);
  assert.equal(result.df, 2);
  // Swapping the samples flips the sign only.
  const swapped = pitmanMorgan([1, 1, 3, 3], [0, 2, 4, 6]);
  assert.ok(swapped !== null && Math.abs(swapped.t + 2 * Math.SQRT2) < 1e-12);
});

test('pitmanMorgan agrees with the textbook form through the variance ratio and the correlation of a with b', () => {
  // t = (F - 1) sqrt(n - 2) / (2 sqrt(F (1 - r_ab^2))), F = var(a) / var(b): an independent route to the same statistic.
  const a = [30.8, 36.5, 25.9, 40.6, 33.9, 26.0, 33.7, 39.7, 41.3, 29.7];
  const b = [34.7, 30.7, 31.2, 38.1, 35.1, 28.9, 35.8, 35.1, 38.2, 28.4];
  const n = a.length;
  const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / n;
  const ma = mean(a);
  const mb = mean(b);
  const saa = a.reduce((sum, value) => sum + (value - ma) ** 2, 0);
  const sbb = b.reduce((sum, value) => sum + (value - mb) ** 2, 0);
  const sab = a.reduce((sum, value, index) => sum + (value - ma) * ((b[index] as number) - mb), 0);
  const ratio = saa / sbb;
  const rab2 = (sab * sab) / (saa * sbb);
  const expected = ((ratio - 1) * Math.sqrt(n - 2)) / (2 * Math.sqrt(ratio * (1 - rab2)));
  const result = pitmanMorgan(a, b);
  assert.ok(result !== null);
  assert.ok(Math.abs(result.t - expected) < 1e-9 * Math.abs(expected), `${result.t} against ${expected}`);
  assert.equal(result.df, 8);
});

test('pitmanMorgan: equal scatter gives t = 0; degenerate samples give null; unpaired samples throw', () => {
  // b is a reflected about its mean: same variance, so sums and differences are uncorrelated.
  const equal = pitmanMorgan([1, 2, 3, 4], [4, 3, 2, 1]);
  assert.equal(equal, null); // sums are constant (5): no correlation is defined
  const same = pitmanMorgan([1, 3, 2, 5], [2, 4, 3, 6]); // b = a + 1: differences constant
  assert.equal(same, null);
  const balanced = pitmanMorgan([1, -1, 1, -1], [1, 1, -1, -1]);
  assert.ok(balanced !== null && Math.abs(balanced.t) < 1e-12);
  assert.equal(pitmanMorgan([1, 2], [2, 1]), null);
  assert.throws(() => pitmanMorgan([1, 2, 3], [1, 2]), RangeError);
});

function evaluation(classIoU: readonly (number | null)[]): EvaluationSummary {
  return { mIoU: 0.5, pixelAccuracy: 0.9, meanClassAccuracy: 0.5, frequencyWeightedIoU: 0.8, classIoU, images: 10, seconds: 1 };
}

function cell(method: string, seed: number, val: readonly (number | null)[] | null): SweepCell {
  return {
    method, labelled: 20, seed, test: null, val: val === null ? null : evaluation(val),
    steps: { pretrain: 0, finetune: 10 }, seconds: { pretrain: 0, finetune: 1, total: 1 }, curve: [], valCurve: [],
  };
}

test('pairedClassGains: differences per class over the seeds both cells have the class for', () => {
  const results = {
    cells: [
      cell('ce', 0, [0.5, 0.1, null]),
      cell('ce', 1, [0.6, 0.0, 0.2]),
      cell('ce', 2, [0.7, 0.3, 0.4]),
      cell('within', 2, [0.6, 0.3, null]),
      cell('within', 0, [0.7, 0.0, 0.9]),
      cell('within', 1, null), // no val evaluation: seed 1 is not paired
      cell('ce', 3, [0.1, 0.1, 0.1]), // no within cell: not paired
    ],
  };
  const gains = pairedClassGains(results, 'within', 'ce', 20, 'val', 3);
  // class 0: seeds 0 and 2, differences +0.2 and -0.1; class 1: -0.1 and 0 (a tie is not ahead);
  // class 2: null at seed 0 (ce) and seed 2 (within), so no seed pairs.
  assert.equal(gains.length, 3);
  assert.ok(gains[0]!.gain !== null && Math.abs(gains[0]!.gain.mean - 0.05) < 1e-12);
  assert.ok(Math.abs(gains[0]!.gain.std! - Math.sqrt(0.045)) < 1e-12);
  assert.equal(gains[0]!.gain.n, 2);
  assert.equal(gains[0]!.ahead, 1);
  assert.ok(gains[1]!.gain !== null && Math.abs(gains[1]!.gain.mean + 0.05) < 1e-12);
  assert.equal(gains[1]!.ahead, 0);
  assert.equal(gains[2]!.gain, null);
  assert.equal(gains[2]!.ahead, 0);
  assert.deepEqual(pairedClassGains(results, 'within', 'ce', 20, 'test', 3).map((entry) => entry.gain), [null, null, null]);
});

test('withBaselineFrom: the baseline comes from the other sweep, the own baseline is kept under a new name', () => {
  const primary = { methods: ['ce', 'within'], budgets: [20], cells: [cell('ce', 0, [0.5]), cell('within', 0, [0.7])] };
  const other = { cells: [cell('ce', 0, [0.4]), cell('ce', 1, [0.3]), cell('within', 0, [0.9]), { ...cell('ce', 0, [0.1]), labelled: 50 }] };
  const merged = withBaselineFrom(primary, other, 'ce', 'ce');
  assert.deepEqual(merged.methods, ['ce', 'ce, this run', 'within']);
  assert.deepEqual(merged.budgets, [20]);
  // Only the other sweep's ce cells at the primary's budgets become the baseline; its within cell does not.
  assert.deepEqual(merged.cells.filter((entry) => entry.method === 'ce').map((entry) => [entry.seed, entry.val!.classIoU[0]]), [[0, 0.4], [1, 0.3]]);
  assert.deepEqual(merged.cells.filter((entry) => entry.method === 'ce, this run').map((entry) => entry.val!.classIoU[0]), [0.5]);
  assert.deepEqual(merged.cells.filter((entry) => entry.method === 'within').map((entry) => entry.val!.classIoU[0]), [0.7]);
  // Paired against the borrowed baseline: 0.5 - 0.4 and 0.7 - 0.4 at seed 0.
  assert.ok(Math.abs(pairedClassGains(merged, 'ce, this run', 'ce', 20, 'val', 1)[0]!.gain!.mean - 0.1) < 1e-12);
  assert.ok(Math.abs(pairedClassGains(merged, 'within', 'ce', 20, 'val', 1)[0]!.gain!.mean - 0.3) < 1e-12);
  assert.deepEqual(primary.methods, ['ce', 'within'], 'the primary sweep is not modified');
});

/** Simpson's rule with `steps` (even) intervals. */
function simpson(f: (x: number) => number, a: number, b: number, steps = 20_000): number {
  const h = (b - a) / steps;
  let sum = f(a) + f(b);
  for (let i = 1; i < steps; i++) sum += (i % 2 === 1 ? 4 : 2) * f(a + i * h);
  return (sum * h) / 3;
}

test('studentT975: every table value is the 97.5% point of t with df degrees of freedom (numerical integration of the density)', () => {
  // With t = sqrt(df) tan(theta) the density is proportional to cos(theta)^(df - 1) on [0, pi/2), so
  // P(T <= t) = 1/2 + (1/2) * (integral to atan(t / sqrt(df))) / (integral to pi/2). Rounding t to 3 decimals moves the
  // probability by at most density(t) * 0.0005 < 5e-5 at these t; Simpson's error here is far below that.
  for (let df = 1; df <= 30; df++) {
    const t = studentT975(df);
    const f = (theta: number): number => Math.cos(theta) ** (df - 1);
    const probability = 0.5 + 0.5 * simpson(f, 0, Math.atan(t / Math.sqrt(df))) / simpson(f, 0, Math.PI / 2);
    assert.ok(Math.abs(probability - 0.975) < 1e-4, `df ${df}: P(T <= ${t}) = ${probability}`);
  }
  assert.throws(() => studentT975(0), RangeError);
  assert.throws(() => studentT975(31), RangeError);
  assert.throws(() => studentT975(2.5), RangeError);
});

test('interval95: by hand for 1, 2, 3, 6 (mean 3, sd sqrt(14/3), t(0.975, 3) = 3.182)', () => {
  const interval = interval95(meanAndStd([1, 2, 3, 6]));
  const half = 3.182 * Math.sqrt(14 / 3) / 2;
  assert.ok(interval !== null && Math.abs(interval.mean - 3) < 1e-12 && Math.abs(interval.low - (3 - half)) < 1e-12 && Math.abs(interval.high - (3 + half)) < 1e-12);
  assert.equal(interval95(meanAndStd([1])), null);
  assert.equal(interval95(meanAndStd(Array.from({ length: 32 }, (_, i) => i))), null); // beyond the t table
});

test('describeGain: by hand for differences 0.01, 0.02, 0.03, 0.06 (points 1, 2, 3, 6; as in interval95 above)', () => {
  // mean 3, sd sqrt(14/3) = 2.160, standard error 1.080, half-width 3.182 * 1.080 = 3.437: interval [-0.4, +6.4].
  assert.equal(describeGain(meanAndStd([0.01, 0.02, 0.03, 0.06])!), '+3.0 +- 2.2, standard error 1.1, 95% interval [-0.4, +6.4]');
  assert.equal(describeGain(meanAndStd([-0.012])!), '-1.2 +- -, standard error -');
});
