/**
 * results.md: the report's results table as Markdown, for the README and other plain-text pages. The
 * same figures as report.html's table (src/report/report-tables.ts): test and val mIoU (%) as mean ± sample
 * std over seeds, the gain over ce paired by seed, the time per cell.
 */
import { BASELINE_METHOD, gainsOverBaseline, summariseBudgets } from './aggregate.js';
import { BUSY_MARK, busyNote, formatDuration, formatMeanStd } from './report-tables.js';
import type { SweepResults } from './results.js';

/** One row per (K, method), budgets ascending; the best test mean at each K in bold. */
export function resultsMarkdown(results: Pick<SweepResults, 'cells' | 'methods' | 'budgets' | 'cores'>): string {
  const gains = new Map(gainsOverBaseline(results).map((gain) => [`${gain.method}@${gain.labelled}`, gain.gain]));
  const summaries = summariseBudgets(results);
  const best = new Map<number, number>();
  for (const summary of summaries) {
    if (summary.testMiou !== null) best.set(summary.labelled, Math.max(best.get(summary.labelled) ?? -Infinity, summary.testMiou.mean));
  }
  const hasBaseline = results.methods.includes(BASELINE_METHOD);
  const header = ['K', 'method', 'seeds', 'test mIoU (%)', 'val mIoU (%)', ...(hasBaseline ? [`test gain over ${BASELINE_METHOD} (points)`] : []), 'time per cell'];
  const rows = summaries.map((summary) => {
    const test = formatMeanStd(summary.testMiou);
    const isBest = summary.testMiou !== null && summary.testMiou.mean === best.get(summary.labelled);
    const gain = summary.method === BASELINE_METHOD ? 'baseline' : formatMeanStd(gains.get(`${summary.method}@${summary.labelled}`) ?? null, true);
    const seeds = summary.testMiou === null ? 0 : summary.testMiou.n;
    return [String(summary.labelled), summary.method, seeds === summary.cells ? String(seeds) : `${seeds} of ${summary.cells}`,
      isBest ? `**${test}**` : test, formatMeanStd(summary.valMiou), ...(hasBaseline ? [gain] : []),
      `${formatDuration(summary.seconds)}${summary.busyCells > 0 ? ` ${BUSY_MARK}` : ''}`];
  });
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const align = header.map((_name, index) => (index === 1 ? '---' : '---:'));
  const note = busyNote(results);
  return [line(header), line(align), ...rows.map(line)].join('\n') + '\n' + (note === '' ? '' : `\n${note}\n`);
}
