/**
 * results.csv: one row per sweep cell, for spreadsheets and scripts. Fractions stay fractions in
 * [0, 1] (as in results.json); a missing evaluation is an empty field.
 */
import type { SweepResults } from './results.js';

/** Column names of {@link resultsCsv}, in order. */
export const RESULTS_CSV_COLUMNS = [
  'method', 'labelled', 'seed', 'test_miou', 'val_miou', 'test_pixel_accuracy',
  'seconds_pretrain', 'seconds_finetune', 'seconds_total', 'steps_pretrain', 'steps_finetune',
] as const;

/** A field quoted per RFC 4180 when it holds a comma, a quote or a line break. */
function field(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The cells of `results` as CSV with a header line: sorted by method (results.methods order), K, seed;
 * lines end with "\n", including the last.
 */
export function resultsCsv(results: Pick<SweepResults, 'cells' | 'methods'>): string {
  const methodOrder = (method: string): number => {
    const index = results.methods.indexOf(method);
    return index < 0 ? results.methods.length : index;
  };
  const cells = [...results.cells].sort((a, b) => methodOrder(a.method) - methodOrder(b.method) || a.method.localeCompare(b.method) || a.labelled - b.labelled || a.seed - b.seed);
  const lines = cells.map((cell) => [
    cell.method, cell.labelled, cell.seed, cell.test?.mIoU, cell.val?.mIoU, cell.test?.pixelAccuracy,
    cell.seconds.pretrain, cell.seconds.finetune, cell.seconds.total, cell.steps.pretrain, cell.steps.finetune,
  ].map(field).join(','));
  return [RESULTS_CSV_COLUMNS.join(','), ...lines].map((line) => `${line}\n`).join('');
}
