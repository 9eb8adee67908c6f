import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { syntheticSweepResults } from './fixtures.js';
import { renderReport, writeReport } from './report-html.js';
import { formatDuration } from './report-tables.js';
import { resultsCsv } from './results-csv.js';
import { parseSweepResults } from './results-schema.js';
import type { SweepResults } from './results.js';

function count(html: string, pattern: RegExp): number {
  return html.match(new RegExp(pattern, 'g'))?.length ?? 0;
}

test('renderReport: one self-contained page: no script, nothing fetched, every chart inline, ids unique', async () => {
  const html = await renderReport(await syntheticSweepResults());
  assert.match(html, /^<!doctype html>/);
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /(src|href)="(?!data:|#)/, 'no reference outside the page');
  assert.doesNotMatch(html, /<link|@import|url\((?!#)/i);
  assert.deepEqual([...html.matchAll(/data-chart="([^"]+)"/g)].map((match) => match[1]), ['miou', 'gain', 'curves', 'embeddings']);
  assert.equal(count(html, /<svg[\s>]/), 4);
  const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((match) => match[1]);
  assert.equal(new Set(ids).size, ids.length, 'clip and gradient ids do not clash between charts');
  assert.equal(count(html, /<img src="data:image\/png;base64,/), 2 * (2 + 2), '2 rows of image, truth and 2 methods');
});

test('renderReport: every string from the data is escaped', async () => {
  const html = await renderReport(await syntheticSweepResults());
  assert.match(html, /Learning rates chosen on val only &lt;never on test&gt; &amp; fixed before the test run\./);
  assert.match(html, /--out &quot;runs\/a&amp;b&quot;/);
  assert.match(html, /<\/span>Car &lt;&amp;&gt;<\/th>/, 'class names in the IoU table');
  assert.doesNotMatch(html, /<never|Car <&>/);
  const hostile: SweepResults = { ...(await syntheticSweepResults()), methods: ['ce', '<img src=x onerror=alert(1)>'] };
  assert.doesNotMatch(await renderReport(hostile), /<img src=x/);
});

test('renderReport: results table with mean ± std over seeds, paired gain over ce, wall-clock; best at each K in bold', async () => {
  const html = await renderReport(await syntheticSweepResults());
  const table = html.match(/<table class="results">[\s\S]*?<\/table>/)?.[0] ?? '';
  const rows = [...table.matchAll(/<tr[^>]*><td class="num">(\d+)<\/td><td>([^<]+)<\/td>(.*?)<\/tr>/g)].map((match) => [match[1], match[2], match[3]?.replace(/<[^>]+>/g, '|').replace(/\|+/g, '|')]);
  assert.deepEqual(rows, [
    // ce at K = 4: 0.30, 0.34 -> 32.0 ± 2.8; val 0.02 higher; total seconds 45 and 46.
    ['4', 'ce', '|2|32.0 ± 2.8|34.0 ± 2.8|baseline|46 s|'],
    // within at K = 4: 0.38, 0.40; paired differences 0.08, 0.06 -> +7.0 ± 1.4; 75 and 76 s: 75.5 rounds to 76.
    ['4', 'within', '|2|39.0 ± 1.4|41.0 ± 1.4|+7.0 ± 1.4|1 min 16 s|'],
    ['20', 'ce', '|2|52.0 ± 2.8|54.0 ± 2.8|baseline|46 s|'],
    ['20', 'within', '|2|56.0 ± 1.4|58.0 ± 1.4|+4.0 ± 1.4|1 min 16 s|'],
  ]);
  assert.equal(count(table, /<strong>/), 2, 'one best per K');
  assert.match(table, /<strong>39\.0 ± 1\.4<\/strong>/);
});

test('renderReport: a time per cell measured beside other work is marked † and explained under the table', async () => {
  const quiet = await syntheticSweepResults();
  assert.doesNotMatch(await renderReport({ ...quiet, cores: 2 }), /†/, 'no load recorded: nothing marked');
  // ce at K = 20, seed 1 ran at a median load of 4.2 on 2 cores (another job beside it); the others at 2.1.
  const cells = quiet.cells.map((cell) => ({ ...cell, load: cell.method === 'ce' && cell.labelled === 20 && cell.seed === 1 ? 4.2 : 2.1 }));
  const html = await renderReport({ ...quiet, cells, cores: 2 });
  const table = html.match(/<table class="results">[\s\S]*?<\/table>/)?.[0] ?? '';
  assert.equal(count(table, /†/), 1);
  assert.match(table, /<td>ce<\/td>.*?<td class="num">46 s †<\/td><\/tr><tr><td class="num">20<\/td><td>within/);
  assert.match(html, /<\/table><p class="note">† At least one seed of this cell ran while the machine&#39;s 1-minute load average stayed above its 2 cores \+ 1/);
});

test('renderReport: images that are not base64 data URLs are left out with a note', async () => {
  const results = await syntheticSweepResults();
  const [first, second] = results.predictions;
  const html = await renderReport({
    ...results,
    predictions: [{ ...first!, image: 'https://example.invalid/a.png', predictions: { ce: first!.predictions.ce! } }, second!],
  });
  assert.doesNotMatch(html, /example\.invalid/);
  assert.match(html, /not an embedded image/);
  assert.match(html, /no prediction/);
});

test('formatDuration: seconds, minutes, hours', () => {
  assert.deepEqual([formatDuration(44.6), formatDuration(723), formatDuration(7530), formatDuration(null)], ['45 s', '12 min 03 s', '2 h 05 min', '–']);
});

test('resultsCsv: a header and one row per cell in method, K, seed order; empty fields for missing evaluations; quoting', async () => {
  const results = await syntheticSweepResults();
  const cells = [...results.cells.slice(0, 1), { ...results.cells[1]!, method: 'a,"b"', test: null }];
  const lines = resultsCsv({ methods: results.methods, cells }).split('\n');
  assert.deepEqual(lines, [
    'method,labelled,seed,test_miou,val_miou,test_pixel_accuracy,seconds_pretrain,seconds_finetune,seconds_total,steps_pretrain,steps_finetune',
    'ce,20,0,0.5,0.52,0.85,0,40,45,0,4',
    '"a,""b""",20,1,,0.56,,0,40,46,0,4',
    '',
  ]);
  assert.equal(resultsCsv(results).split('\n').length, 1 + 8 + 1);
});

test('writeReport: validates results.json, writes the page and the CSV, leaves no temp file', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'contraseg-report-'));
  try {
    const resultsFile = join(folder, 'results.json');
    await writeFile(resultsFile, JSON.stringify(await syntheticSweepResults()));
    await writeReport(resultsFile, join(folder, 'report.html'), { csvFile: join(folder, 'results.csv') });
    assert.match(await readFile(join(folder, 'report.html'), 'utf8'), /^<!doctype html>[\s\S]*<\/html>\n$/);
    assert.match(await readFile(join(folder, 'results.csv'), 'utf8'), /^method,labelled,seed,/);
    assert.deepEqual((await readdir(folder)).sort(), ['report.html', 'results.csv', 'results.json']);

    await writeFile(resultsFile, '{ not json');
    await assert.rejects(writeReport(resultsFile, join(folder, 'x.html')), (error: unknown) => error instanceof ConfigError && error.message.startsWith(`${resultsFile}: not JSON`));
    await assert.rejects(writeReport(join(folder, 'missing.json'), join(folder, 'x.html')), (error: unknown) => error instanceof ConfigError && /missing\.json: cannot read the sweep results/.test(error.message));
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

test('parseSweepResults: names the file, the version and every bad field', async () => {
  const results = await syntheticSweepResults();
  assert.throws(() => parseSweepResults({ ...results, version: 2 }, 'runs/results.json'), (error: unknown) => error instanceof ConfigError && /^runs\/results\.json: expected results version 1, got 2\./.test(error.message));
  const broken = { ...results, methods: 'ce', cells: [{ ...results.cells[0], labelled: '4' }] };
  assert.throws(() => parseSweepResults(broken, 'r.json'), (error: unknown) => error instanceof ConfigError && /^r\.json: not a valid results\.json: methods: Expected array, received string; cells\.0\.labelled: Expected number, received string\.$/.test(error.message));
  assert.deepEqual(parseSweepResults(JSON.parse(JSON.stringify(results))), results);
});
