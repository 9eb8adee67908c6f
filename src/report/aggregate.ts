/**
 * Sweep statistics from results.json's cells (plain numbers, no tensors): mean and sample standard
 * deviation over seeds per (method, K), gains over a baseline paired by seed, and per-class IoU means.
 * mIoU values stay fractions in [0, 1], as in results.json; the report scales them for display.
 */
import type { SweepCell, SweepResults } from './results.js';

/** The baseline every gain is measured against: softmax cross-entropy from scratch (the paper's "CE"). */
export const BASELINE_METHOD = 'ce';

/** Mean and sample standard deviation of some values. */
export interface MeanStd {
  readonly mean: number;
  /** Sample standard deviation (n - 1 in the denominator); null for a single value. */
  readonly std: number | null;
  readonly n: number;
}

/** Statistics of one (method, K) over its seeds. */
export interface BudgetSummary {
  readonly method: string;
  readonly labelled: number;
  /** Cells of this (method, K) in results.json, evaluated or not. */
  readonly cells: number;
  /** Over the cells with a test evaluation; null when none has one. */
  readonly testMiou: MeanStd | null;
  /** Over the cells with a val evaluation; null when none has one. */
  readonly valMiou: MeanStd | null;
  /**
   * Median over seeds of the cells' seconds (evaluations included; src/train/sweep-time.ts): a median, because a
   * cell that shared the machine with other heavy work is slow at every step, which no per-cell statistic removes.
   * Null with no cell.
   */
  readonly seconds: number | null;
  /** Cells that ran beside other work ({@link ranBesideOtherWork}): their time overstates the cell's. */
  readonly busyCells: number;
}

/** mIoU gain of a method over the baseline at one K (test, or val on request): per-seed differences, then their statistics. */
export interface BaselineGain {
  readonly method: string;
  readonly labelled: number;
  /** Over the seeds both the method and the baseline have a test evaluation for; null with no such seed. */
  readonly gain: MeanStd | null;
  /** The seeds that were paired, ascending. */
  readonly seeds: readonly number[];
}

/** Mean test IoU per class of one (method, K) over its seeds. */
export interface ClassIouRow {
  readonly method: string;
  readonly labelled: number;
  /** By class id; null where no seed has the class (absent from ground truth and prediction). */
  readonly classIoU: readonly (number | null)[];
}

/** Mean and sample standard deviation of `values`; null for no value. */
export function meanAndStd(values: readonly number[]): MeanStd | null {
  const n = values.length;
  if (n === 0) return null;
  const mean = values.reduce((sum, value) => sum + value, 0) / n;
  if (n === 1) return { mean, std: null, n };
  const squares = values.reduce((sum, value) => sum + (value - mean) ** 2, 0);
  return { mean, std: Math.sqrt(squares / (n - 1)), n };
}

/** The median of some values; null for none. */
function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/**
 * Whether a cell shared the machine with work beyond the sweep's own: its median 1-minute load average was
 * above the machine's cores + 1. A sweep alone keeps the load near the threads it runs (at most the cores;
 * loader threads add a fraction), so one extra runnable thread on average is the smallest sure sign of
 * other work. False when the load or the cores were not recorded.
 */
export function ranBesideOtherWork(cell: Pick<SweepCell, 'load'>, cores: number | undefined): boolean {
  return cores !== undefined && typeof cell.load === 'number' && cell.load > cores + 1;
}

/** The cells of one (method, K), in seed order. */
export function cellsOf(results: Pick<SweepResults, 'cells'>, method: string, labelled: number): SweepCell[] {
  return results.cells.filter((cell) => cell.method === method && cell.labelled === labelled).sort((a, b) => a.seed - b.seed);
}

/** The budgets of a sweep, ascending. */
export function sortedBudgets(results: Pick<SweepResults, 'budgets'>): number[] {
  return [...results.budgets].sort((a, b) => a - b);
}

/** One summary per (method, K): budgets ascending, methods in results.methods order within each budget. */
export function summariseBudgets(results: Pick<SweepResults, 'cells' | 'methods' | 'budgets' | 'cores'>): BudgetSummary[] {
  const summaries: BudgetSummary[] = [];
  for (const labelled of sortedBudgets(results)) {
    for (const method of results.methods) {
      const cells = cellsOf(results, method, labelled);
      const seconds = median(cells.map((cell) => cell.seconds.total));
      summaries.push({
        method,
        labelled,
        cells: cells.length,
        testMiou: meanAndStd(cells.flatMap((cell) => (cell.test === null ? [] : [cell.test.mIoU]))),
        valMiou: meanAndStd(cells.flatMap((cell) => (cell.val === null ? [] : [cell.val.mIoU]))),
        seconds,
        busyCells: cells.filter((cell) => ranBesideOtherWork(cell, results.cores)).length,
      });
    }
  }
  return summaries;
}

/**
 * mIoU gains over `baseline` per (method, K), every method but the baseline, paired by seed: the
 * mean and spread of (method - baseline) over the seeds both have, which removes the seed-to-seed
 * variation they share (the same labelled subset and initialisation per seed). On the test split unless
 * `split` says val (what choices are made on). Empty if the sweep has no such baseline method.
 */
export function gainsOverBaseline(results: Pick<SweepResults, 'cells' | 'methods' | 'budgets'>, baseline: string = BASELINE_METHOD,
  split: 'test' | 'val' = 'test'): BaselineGain[] {
  if (!results.methods.includes(baseline)) return [];
  const gains: BaselineGain[] = [];
  for (const labelled of sortedBudgets(results)) {
    const baselineBySeed = new Map(cellsOf(results, baseline, labelled).flatMap((cell) => (cell[split] === null ? [] : [[cell.seed, cell[split].mIoU] as const])));
    for (const method of results.methods.filter((name) => name !== baseline)) {
      const pairs = cellsOf(results, method, labelled).flatMap((cell) => {
        const reference = baselineBySeed.get(cell.seed);
        const own = cell[split];
        return own === null || reference === undefined ? [] : [{ seed: cell.seed, difference: own.mIoU - reference }];
      });
      gains.push({ method, labelled, gain: meanAndStd(pairs.map((pair) => pair.difference)), seeds: pairs.map((pair) => pair.seed) });
    }
  }
  return gains;
}

/**
 * Mean test IoU per class per (method, K), budgets ascending, methods in results.methods order. A class
 * is averaged over the seeds where it has an IoU (null ones are skipped, not counted as 0).
 * @param classes number of classes (the dataset's class table).
 */
export function classIouMeans(results: Pick<SweepResults, 'cells' | 'methods' | 'budgets'>, classes: number): ClassIouRow[] {
  const rows: ClassIouRow[] = [];
  for (const labelled of sortedBudgets(results)) {
    for (const method of results.methods) {
      const tests = cellsOf(results, method, labelled).flatMap((cell) => (cell.test === null ? [] : [cell.test.classIoU]));
      const classIoU = Array.from({ length: classes }, (_unused, id) => {
        const values = tests.flatMap((ious) => {
          const iou = ious[id];
          return iou === null || iou === undefined ? [] : [iou];
        });
        return meanAndStd(values)?.mean ?? null;
      });
      rows.push({ method, labelled, classIoU });
    }
  }
  return rows;
}
