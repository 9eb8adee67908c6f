/**
 * results.json -> report.html: one self-contained page (inline CSS, inline SVG charts, images as data
 * URLs, no script, nothing fetched) showing the sweep's label-efficiency result: how it was run, the
 * results table, mIoU against K, the gain over cross-entropy, per-class IoU, training curves, the
 * prediction grid and the embedding maps.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { BASELINE_METHOD, sortedBudgets } from './aggregate.js';
import { resultsCsv } from './results-csv.js';
import { parseSweepResults } from './results-schema.js';
import type { SweepResults } from './results.js';
import { busyNote, classIouTableHtml, escapeHtml, predictionGridHtml, resultsTableHtml, settingsTableHtml } from './report-tables.js';
import { embeddingMapsSvg, gainOverBaselineSvg, miouByBudgetSvg, trainingCurvesAtSmallestBudgetSvg } from './sweep-charts.js';
import { prefixSvgIds } from './vega-svg.js';

const STYLE = `
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; background: #fff; }
body { margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; line-height: 1.45; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 36px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.meta { color: #555; margin: 0 0 16px; }
pre { background: #f5f5f7; padding: 10px 12px; border-radius: 4px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
table { border-collapse: collapse; font-size: 0.92rem; }
th, td { padding: 4px 10px; text-align: left; border-bottom: 1px solid #eee; vertical-align: middle; }
thead th { border-bottom: 2px solid #bbb; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.group-start td { border-top: 2px solid #ccc; }
table.settings th { font-weight: 600; white-space: nowrap; }
table.settings td code { white-space: pre-wrap; word-break: break-all; }
table.grid td, table.grid th { border: none; padding: 3px; }
table.grid th.row-id { font-weight: normal; font-size: 0.8rem; color: #555; writing-mode: vertical-rl; transform: rotate(180deg); }
table.grid img { display: block; width: 200px; height: auto; }
table.grid img.mask { image-rendering: pixelated; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 4px; border: 1px solid #999; vertical-align: -1px; }
.scroll { overflow-x: auto; }
.missing { color: #a00; font-size: 0.85rem; }
figure { margin: 16px 0; }
figure.chart svg { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 0.9rem; max-width: 820px; margin-top: 4px; }
`;

/** The charts of a report, each as inline SVG with its own id prefix (vega reuses clip ids in every render). */
interface Charts { readonly miou: string; readonly gain: string; readonly curves: string; readonly embeddings: string }

async function renderCharts(results: SweepResults): Promise<Charts> {
  const inline = (svg: string, name: string): string => prefixSvgIds(svg.replace(/^<\?xml[^>]*\?>\s*/, ''), `${name}-`);
  return {
    miou: inline(await miouByBudgetSvg(results), 'miou'),
    gain: inline(await gainOverBaselineSvg(results), 'gain'),
    curves: inline(await trainingCurvesAtSmallestBudgetSvg(results), 'curves'),
    embeddings: results.embeddings.length === 0 ? '' : inline(await embeddingMapsSvg(results.embeddings, results.dataset), 'embeddings'),
  };
}

function figure(name: string, svg: string, caption: string): string {
  return `<figure class="chart" data-chart="${name}">${svg}<figcaption>${caption}</figcaption></figure>`;
}

function headerHtml(results: SweepResults): string {
  const { dataset } = results;
  const name = escapeHtml(dataset.name);
  return `<h1>Label efficiency on ${name}: contrastive pretraining, then softmax fine-tuning</h1>`
    + `<p class="meta">After Zhao et al., “Contrastive Learning for Label Efficient Semantic Segmentation”, ICCV 2021. `
    + `${name}: ${dataset.trainImages} train, ${dataset.valImages} val, ${dataset.testImages} test images; ${dataset.classNames.length} classes. `
    + `Methods: ${results.methods.map(escapeHtml).join(', ')}. Labelled images K: ${sortedBudgets(results).join(', ')}. Created ${escapeHtml(results.createdAt)}.</p>`;
}

function howItWasRunHtml(results: SweepResults): string {
  return '<h2>How it was run</h2>'
    + `<p>Command:</p><pre><code>${escapeHtml(results.command)}</code></pre>`
    + `<p>Machine: ${escapeHtml(results.machine)}.</p>`
    + `<h3>Protocol</h3><p>${escapeHtml(results.protocol)}</p>`
    + `<h3>Shared settings</h3>${settingsTableHtml(results.settings)}`;
}

function embeddingsHtml(results: SweepResults, svg: string): string {
  if (svg === '') return '<h2>Embedding maps</h2><p>No embedding maps recorded.</p>';
  return '<h2>Embedding maps</h2>' + figure('embeddings', svg,
    'Each dot is one sampled test pixel, placed in 2-D by UMAP from its feature vector and coloured by its ground-truth class. '
    + 'UMAP keeps neighbourhoods, not distances: classes that form compact, separate groups are ones the features tell apart, '
    + 'and mixed colours are classes they confuse. The axes have no units, and positions cannot be compared between the maps.');
}

/**
 * Renders a sweep's results as one self-contained HTML page (no script, no network). Every string of
 * `results` is escaped; images other than base64 data URLs are left out with a note.
 * @param results plain data, e.g. from {@link parseSweepResults}; not modified.
 */
export async function renderReport(results: SweepResults): Promise<string> {
  const charts = await renderCharts(results);
  const hasBaseline = results.methods.includes(BASELINE_METHOD);
  const smallest = sortedBudgets(results)[0];
  const body = headerHtml(results)
    + howItWasRunHtml(results)
    + '<h2>Results</h2>'
    + '<p>Test mIoU and val mIoU are means over seeds ± their sample standard deviation; each seed draws its own labelled subset of K images. '
    + (hasBaseline ? `The gain over ${BASELINE_METHOD} is the mean ± std of the per-seed differences (same seed, same labelled subset). ` : '')
    + 'Time per cell is the median over seeds of the time on a machine running only that cell: each stage\'s steps times its median '
    + 'logged step time, plus the evaluations at their median time per image (a sweep may be paused and resumed across sittings, '
    + 'so the processes\' wall clocks, kept in results.json as wallSeconds, can overstate it; a median, because a cell that shared the machine with other heavy work is slow at every step).</p>'
    + resultsTableHtml(results)
    + (busyNote(results) === '' ? '' : `<p class="note">${escapeHtml(busyNote(results))}</p>`)
    + figure('miou', charts.miou, 'Mean test mIoU against the number of labelled images K; error bars ±1 sample standard deviation over seeds (none with a single seed).')
    + (hasBaseline ? figure('gain', charts.gain, `Test-mIoU gain over ${BASELINE_METHOD} in percentage points, paired by seed; error bars ±1 standard deviation of the paired differences.`) : '')
    + '<h2>Per-class IoU</h2><p>Mean test IoU (%) per class over seeds; – where the class never appears.</p>'
    + classIouTableHtml(results)
    + '<h2>Training curves</h2>'
    + figure('curves', charts.curves, `Loss per logged step of each stage, and val mIoU during fine-tuning, for the lowest-seed cell of each method at K = ${smallest}.`)
    + `<h2>Predictions</h2><p>Test images, their ground truth and each method's prediction (seed-0 model at K = ${smallest}).</p>`
    + predictionGridHtml(results)
    + embeddingsHtml(results, charts.embeddings);
  const title = `contraseg: label efficiency on ${escapeHtml(results.dataset.name)}`;
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`
    + `<title>${title}</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>\n`;
}

/** Options of {@link writeReport}. */
export interface WriteReportOptions {
  /** Also write the per-cell table ({@link resultsCsv}) to this file. */
  readonly csvFile?: string;
}

/**
 * Reads and validates `resultsFile` (results.json), renders it and writes the page to `outFile`
 * (through a temp file renamed into place, so a reader never sees half a report).
 * @throws ConfigError if the file cannot be read, is not JSON or is not a valid results.json (naming the file).
 */
export async function writeReport(resultsFile: string, outFile: string, options: WriteReportOptions = {}): Promise<void> {
  let text: string;
  try {
    text = await readFile(resultsFile, 'utf8');
  } catch (error) {
    throw new ConfigError(`${resultsFile}: cannot read the sweep results (${(error as Error).message}). Pass the results.json a sweep wrote.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${resultsFile}: not JSON (${(error as Error).message}).`);
  }
  const results = parseSweepResults(json, resultsFile);
  await writeAtomically(outFile, await renderReport(results));
  if (options.csvFile !== undefined) await writeAtomically(options.csvFile, resultsCsv(results));
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text, 'utf8');
  await rename(temporary, file);
}
