/**
 * The report's HTML fragments built from plain data: the results table, the per-class IoU table, the
 * settings table and the prediction grid. Every string from the data is escaped; images are embedded
 * only as base64 data URLs, so the page never loads anything.
 */
import { BASELINE_METHOD, classIouMeans, gainsOverBaseline, summariseBudgets, type MeanStd } from './aggregate.js';
import type { SweepResults } from './results.js';

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] as string);
}

/** A fraction as a percentage with one decimal ("52.3"), or "–" for null. */
export function formatPercent(fraction: number | null): string {
  return fraction === null ? '–' : (fraction * 100).toFixed(1);
}

/** "52.3 ± 1.2" in percent; without "±" for a single value; "–" for none. */
export function formatMeanStd(stats: MeanStd | null, signed = false): string {
  if (stats === null) return '–';
  const mean = (stats.mean * 100).toFixed(1);
  const shown = signed && stats.mean >= 0 ? `+${mean}` : mean;
  return stats.std === null ? shown : `${shown} ± ${(stats.std * 100).toFixed(1)}`;
}

/** Wall-clock seconds for people: "45 s", "12 min 03 s", "2 h 05 min"; "–" for null. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '–';
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
  return `${Math.floor(whole / 3600)} h ${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')} min`;
}

/** Marks a time per cell that some seed measured beside other work; {@link busyNote} explains it. */
export const BUSY_MARK = '†';

/** The footnote to {@link BUSY_MARK}, or '' when no cell ran beside other work. */
export function busyNote(results: Pick<SweepResults, 'cells' | 'methods' | 'budgets' | 'cores'>): string {
  if (!summariseBudgets(results).some((summary) => summary.busyCells > 0)) return '';
  return `${BUSY_MARK} At least one seed of this cell ran while the machine's 1-minute load average stayed above its ${results.cores ?? '?'} cores + 1 `
    + '(median over the logged steps): other work shared the cores, so this time overstates what the cell takes alone.';
}

/** Budgets, then methods: test and val mIoU over seeds, the paired gain over ce, the mean time per cell (pauses excluded). The best test mean at each K is bold. */
export function resultsTableHtml(results: SweepResults): string {
  const gains = new Map(gainsOverBaseline(results).map((gain) => [`${gain.method}@${gain.labelled}`, gain.gain]));
  const summaries = summariseBudgets(results);
  const best = new Map<number, number>();
  for (const summary of summaries) {
    if (summary.testMiou !== null) best.set(summary.labelled, Math.max(best.get(summary.labelled) ?? -Infinity, summary.testMiou.mean));
  }
  const hasBaseline = results.methods.includes(BASELINE_METHOD);
  const rows = summaries.map((summary, i) => {
    const firstOfBudget = i === 0 || summaries[i - 1]?.labelled !== summary.labelled;
    const isBest = summary.testMiou !== null && summary.testMiou.mean === best.get(summary.labelled);
    const gain = summary.method === BASELINE_METHOD ? 'baseline' : formatMeanStd(gains.get(`${summary.method}@${summary.labelled}`) ?? null, true);
    const seeds = summary.testMiou === null ? 0 : summary.testMiou.n;
    return `<tr${firstOfBudget ? ' class="group-start"' : ''}><td class="num">${summary.labelled}</td><td>${escapeHtml(summary.method)}</td>`
      + `<td class="num">${seeds === summary.cells ? seeds : `${seeds} of ${summary.cells}`}</td>`
      + `<td class="num">${isBest ? '<strong>' : ''}${formatMeanStd(summary.testMiou)}${isBest ? '</strong>' : ''}</td>`
      + `<td class="num">${formatMeanStd(summary.valMiou)}</td>`
      + (hasBaseline ? `<td class="num">${gain}</td>` : '')
      + `<td class="num">${formatDuration(summary.seconds)}${summary.busyCells > 0 ? ` ${BUSY_MARK}` : ''}</td></tr>`;
  });
  return `<table class="results"><thead><tr><th>K</th><th>method</th><th>seeds</th><th>test mIoU (%)</th><th>val mIoU (%)</th>`
    + (hasBaseline ? `<th>gain over ${BASELINE_METHOD} (points)</th>` : '')
    + `<th>time per cell</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Mean test IoU (%) per class, one row per (K, method), a colour swatch per class header. */
export function classIouTableHtml(results: SweepResults): string {
  const { classNames, colours } = results.dataset;
  const header = classNames.map((name, id) => {
    const colour = colours[id];
    const swatch = colour === undefined ? '' : `<span class="swatch" style="background:rgb(${colour[0]},${colour[1]},${colour[2]})"></span>`;
    return `<th>${swatch}${escapeHtml(name)}</th>`;
  }).join('');
  const rows = classIouMeans(results, classNames.length).map((row, i, all) => {
    const firstOfBudget = i === 0 || all[i - 1]?.labelled !== row.labelled;
    const cells = row.classIoU.map((iou) => `<td class="num">${formatPercent(iou)}</td>`).join('');
    return `<tr${firstOfBudget ? ' class="group-start"' : ''}><td class="num">${row.labelled}</td><td>${escapeHtml(row.method)}</td>${cells}</tr>`;
  });
  return `<div class="scroll"><table class="classes"><thead><tr><th>K</th><th>method</th>${header}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

/** The shared settings, one row per key, values as JSON. */
export function settingsTableHtml(settings: Record<string, unknown>): string {
  const rows = Object.entries(settings).map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td><code>${escapeHtml(JSON.stringify(value) ?? 'undefined')}</code></td></tr>`);
  return rows.length === 0 ? '<p>No settings recorded.</p>' : `<table class="settings"><tbody>${rows.join('')}</tbody></table>`;
}

/** Only base64 image data URLs are embedded: anything else would make the page fetch or run something. */
const DATA_URL = /^data:image\/(png|jpeg|webp);base64,[A-Za-z0-9+/]+={0,2}$/;

function imageCell(url: string | undefined, alt: string, mask: boolean): string {
  if (url === undefined || !DATA_URL.test(url)) return `<td><span class="missing">${url === undefined ? 'no prediction' : 'not an embedded image'}</span></td>`;
  return `<td><img src="${escapeHtml(url)}" alt="${escapeHtml(alt)}"${mask ? ' class="mask"' : ''}></td>`;
}

/** Rows: the test image, its ground truth, then each method's prediction (seed-0 model at the smallest K). */
export function predictionGridHtml(results: SweepResults): string {
  if (results.predictions.length === 0) return '<p>No prediction images recorded.</p>';
  const header = ['image', 'ground truth', ...results.methods].map((name) => `<th>${escapeHtml(name)}</th>`).join('');
  const rows = results.predictions.map((row) => `<tr><th class="row-id">${escapeHtml(row.id)}</th>`
    + imageCell(row.image, `test image ${row.id}`, false)
    + imageCell(row.truth, `ground truth of ${row.id}`, true)
    + results.methods.map((method) => imageCell(row.predictions[method], `${method} prediction for ${row.id}`, true)).join('')
    + '</tr>');
  return `<div class="scroll"><table class="grid"><thead><tr><th></th>${header}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}
