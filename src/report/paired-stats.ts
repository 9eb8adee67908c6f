/**
 * Paired statistics over seeds, for reading a sweep: the per-class IoU gain of a method over the baseline
 * paired by seed, and the Pitman-Morgan test of whether two methods' results scatter equally across
 * the same seeds. Fractions in [0, 1], as in results.json.
 */
import { cellsOf, meanAndStd, type MeanStd } from './aggregate.js';
import type { SweepResults } from './results.js';
import { percent, signedPercent } from './summary.js';

/** One class's IoU gain of a method over the baseline, paired by seed. */
export interface ClassGain {
  readonly classId: number;
  /** Over the seeds where both cells have an IoU for the class; null with no such seed. */
  readonly gain: MeanStd | null;
  /** Seeds where the method's IoU is strictly higher than the baseline's. */
  readonly ahead: number;
}

/**
 * Per-class IoU differences (method - baseline) on `split`, paired by seed at budget `labelled`: a class is
 * paired on a seed only when both cells have an IoU for it (null means the class is absent from both ground
 * truth and prediction, so there is nothing to compare).
 * @param classes number of classes (the dataset's class table).
 */
export function pairedClassGains(results: Pick<SweepResults, 'cells'>, method: string, baseline: string, labelled: number,
  split: 'test' | 'val', classes: number): ClassGain[] {
  const baselineBySeed = new Map(cellsOf(results, baseline, labelled).flatMap((cell) => (cell[split] === null ? [] : [[cell.seed, cell[split].classIoU] as const])));
  const pairs = cellsOf(results, method, labelled).flatMap((cell) => {
    const reference = baselineBySeed.get(cell.seed);
    const own = cell[split];
    return own === null || reference === undefined ? [] : [{ own: own.classIoU, reference }];
  });
  return Array.from({ length: classes }, (_unused, classId) => {
    const differences = pairs.flatMap(({ own, reference }) => {
      const a = own[classId];
      const b = reference[classId];
      return a === null || a === undefined || b === null || b === undefined ? [] : [a - b];
    });
    return { classId, gain: meanAndStd(differences), ahead: differences.filter((difference) => difference > 0).length };
  });
}

/** Pitman-Morgan test statistic for equal variances of two paired samples. */
export interface PitmanMorgan {
  /** Correlation of (a + b) with (a - b): positive when a scatters more than b. */
  readonly r: number;
  /** r sqrt(n - 2) / sqrt(1 - r^2), Student's t with n - 2 degrees of freedom under equal variances. */
  readonly t: number;
  readonly df: number;
}

/**
 * The Pitman-Morgan test (Pitman 1939, Morgan 1939) of var(a) = var(b) for paired samples: cov(a + b, a - b) =
 * var(a) - var(b), so the correlation of sums with differences is 0 exactly when the variances are equal.
 * Null with fewer than 3 pairs, or when the sums or the differences do not vary (no correlation is defined)
 * or vary in perfect step (|r| = 1, t unbounded).
 * @throws RangeError if the samples differ in length.
 */
export function pitmanMorgan(a: readonly number[], b: readonly number[]): PitmanMorgan | null {
  if (a.length !== b.length) throw new RangeError(`pitmanMorgan: ${a.length} values against ${b.length}; the samples must be paired`);
  const n = a.length;
  if (n < 3) return null;
  const sums = a.map((value, index) => value + (b[index] as number));
  const differences = a.map((value, index) => value - (b[index] as number));
  const r = correlation(sums, differences);
  if (r === null || Math.abs(r) >= 1) return null;
  return { r, t: (r * Math.sqrt(n - 2)) / Math.sqrt(1 - r * r), df: n - 2 };
}

/** Student's t two-sided 95% critical values t(0.975, df) for df = 1..30 (the standard table, 3 decimals). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** t(0.975, df), the half-width multiplier of a 95% interval for a mean of df + 1 values. @throws RangeError outside 1..30. */
export function studentT975(df: number): number {
  const value = T975[df - 1];
  if (!Number.isInteger(df) || value === undefined) throw new RangeError(`studentT975: df must be an integer in 1..${T975.length}, got ${df}`);
  return value;
}

/**
 * The 95% t-interval of a mean from meanAndStd's figures: mean -+ t(0.975, n - 1) std / sqrt(n). Null without a std
 * (n < 2) or beyond the t table (n > 31).
 */
export function interval95(stats: MeanStd | null): { mean: number; low: number; high: number } | null {
  if (stats === null || stats.std === null || stats.n > T975.length + 1) return null;
  const half = studentT975(stats.n - 1) * stats.std / Math.sqrt(stats.n);
  return { mean: stats.mean, low: stats.mean - half, high: stats.mean + half };
}

/**
 * A paired difference in points, as the study scripts print it: "+1.2 +- 2.5, standard error 1.0, 95% interval
 * [-1.4, +3.8]" (mean, sd, sd / sqrt(n), interval95). Without a std (n = 1) the sd and standard error read "-"; the
 * interval is left out wherever interval95 gives none (no std, or n beyond the t table).
 */
export function describeGain(gain: MeanStd): string {
  const interval = interval95(gain);
  return `${signedPercent(gain.mean)} +- ${percent(gain.std)}, standard error ${gain.std === null ? '-' : percent(gain.std / Math.sqrt(gain.n))}`
    + (interval === null ? '' : `, 95% interval [${signedPercent(interval.low)}, ${signedPercent(interval.high)}]`);
}

/** Pearson correlation; null when either sample is constant. */
function correlation(x: readonly number[], y: readonly number[]): number | null {
  const mean = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  x.forEach((value, index) => {
    const dx = value - mx;
    const dy = (y[index] as number) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  });
  return sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
}

/**
 * A sweep whose baseline cells are taken from another sweep, so that a method can be paired by seed with a
 * baseline run elsewhere (another step count, say). `baseline`'s cells come from `other`'s `from` method; the
 * primary sweep's own `baseline` cells, if any, stay as the method `${baseline}, this run`, listed first, so that
 * they are compared too. Only the budgets of the primary sweep are kept.
 */
export function withBaselineFrom<R extends Pick<SweepResults, 'cells' | 'methods' | 'budgets'>>(results: R,
  other: Pick<SweepResults, 'cells'>, from: string, baseline: string): R {
  const renamed = `${baseline}, this run`;
  const own = results.cells.map((cell) => (cell.method === baseline ? { ...cell, method: renamed } : cell));
  const borrowed = other.cells.filter((cell) => cell.method === from && results.budgets.includes(cell.labelled))
    .map((cell) => ({ ...cell, method: baseline }));
  const methods = results.methods.map((method) => (method === baseline ? renamed : method));
  return { ...results, methods: [baseline, ...methods], cells: [...borrowed, ...own] };
}
