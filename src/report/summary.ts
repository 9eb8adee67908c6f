/**
 * The final summary a user reads in the terminal: per-class IoU, then mIoU, pixel accuracy and wall time,
 * one column per run (e.g. contrastive pretraining beside the cross-entropy baseline). Plain numbers in,
 * text out; box drawing by cli-table3.
 */
import Table from 'cli-table3';
import { ShapeError } from '../errors.js';

/** The evaluation of one run. Fractions are in [0, 1] and shown as percentages. */
export interface RunSummary {
  /** Column heading, e.g. "contrastive" or "cross-entropy". */
  readonly name: string;
  /**
   * IoU per class, in the order of the class names; null (from results.json) or NaN (eval's
   * `SegmentationMetrics.iou`) when the class is in neither labels nor predictions.
   */
  readonly classIou: readonly (number | null)[];
  readonly miou: number;
  readonly pixelAccuracy: number;
  /** Training plus evaluation time; omitted when unknown. */
  readonly wallSeconds?: number;
}

const MISSING = '-';
const CORNER_HEADING = 'class IoU %';

/**
 * Formats `runs` as a box-drawn table: a row per class, a rule, then mIoU, pixel accuracy and wall time,
 * a column per run. IoU and accuracy are percentages with one decimal; a null or non-finite value is shown as "-".
 * @throws ShapeError if there is no run, or a run's `classIou` does not have one value per class name.
 */
export function formatSummaryTable(classNames: readonly string[], runs: readonly RunSummary[]): string {
  if (runs.length === 0) throw new ShapeError('a summary table needs at least one run.');
  for (const run of runs) {
    if (run.classIou.length !== classNames.length) {
      throw new ShapeError(`run "${run.name}" has ${run.classIou.length} class IoUs for ${classNames.length} class names (${classNames.join(', ')}).`);
    }
  }
  const header = [CORNER_HEADING, ...runs.map((run) => run.name)];
  const classRows = classNames.map((name, classIndex) => [name, ...runs.map((run) => percent(run.classIou[classIndex] ?? null))]);
  const totalRows = [
    ['mIoU %', ...runs.map((run) => percent(run.miou))],
    ['pixel accuracy %', ...runs.map((run) => percent(run.pixelAccuracy))],
    ['wall time', ...runs.map((run) => duration(run.wallSeconds))],
  ];
  const table = new Table({
    head: header,
    colAligns: header.map((_, column) => (column === 0 ? 'left' : 'right')),
    style: { head: [], border: [], compact: true },
  });
  table.push(...classRows, ...totalRows);
  // cli-table3 rules off all rows or none; the rule under the header (line 2) also goes above the totals.
  const lines = table.toString().split('\n');
  lines.splice(3 + classRows.length, 0, lines[2] as string);
  return lines.join('\n');
}

/** A fraction as a percentage with one decimal ("52.3"); "-" for null, undefined or a non-finite value. */
export function percent(fraction: number | null | undefined): string {
  return fraction === null || fraction === undefined || !Number.isFinite(fraction) ? MISSING : (fraction * 100).toFixed(1);
}

/** percent() with a sign: "+1.2", "-0.4" (a difference of fractions). */
export function signedPercent(fraction: number): string {
  return `${fraction >= 0 ? '+' : ''}${percent(fraction)}`;
}

/** "12.3s", "4m 05s" or "1h 02m 03s". */
function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return MISSING;
  if (Math.round(seconds * 10) < 600) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  const [hours, minutes, rest] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  const twoDigits = (value: number): string => String(value).padStart(2, '0');
  return hours > 0 ? `${hours}h ${twoDigits(minutes)}m ${twoDigits(rest)}s` : `${minutes}m ${twoDigits(rest)}s`;
}
