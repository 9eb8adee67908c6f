/**
 * report.html in a real browser: headless Debian chromium through playwright-core (which downloads no
 * browser). Skipped, saying how to install it, where /usr/bin/chromium is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { syntheticSweepResults } from './fixtures.js';
import { renderReport } from './report-html.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install it with \`apt-get install chromium\` (Debian) to run the browser test of report.html`;

test('report.html renders in headless chromium: every chart drawn with its marks, every image decoded, no console error, nothing fetched', { skip, timeout: 180_000 }, async () => {
  const folder = await mkdtemp(join(tmpdir(), 'contraseg-report-browser-'));
  // A fresh profile: playwright takes it as launchPersistentContext's userDataDir (it refuses --user-data-dir in args).
  const context = await chromium.launchPersistentContext(join(folder, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  try {
    const results = await syntheticSweepResults();
    const reportFile = join(folder, 'report.html');
    await writeFile(reportFile, await renderReport(results));
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => { if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`); });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    const pageUrl = pathToFileURL(reportFile).href;
    await page.goto(pageUrl, { waitUntil: 'load' });

    const charts = await page.$$eval('figure[data-chart]', (figures) => figures.map((figure) => {
      const svg = figure.querySelector('svg');
      const box = svg?.getBoundingClientRect();
      return {
        name: figure.getAttribute('data-chart'),
        width: box?.width ?? 0,
        height: box?.height ?? 0,
        errorbars: figure.querySelectorAll('[aria-roledescription="errorbar"]').length,
        points: figure.querySelectorAll('[aria-roledescription="point"]').length,
        bars: figure.querySelectorAll('[aria-roledescription="bar"]').length,
        lines: figure.querySelectorAll('[aria-roledescription="line mark"]').length,
        dots: figure.querySelectorAll('g.mark-symbol.role-mark > path').length,
      };
    }));
    assert.deepEqual(charts.map((chart) => chart.name), ['miou', 'gain', 'curves', 'embeddings']);
    for (const chart of charts) assert.ok(chart.width > 100 && chart.height > 100, `${chart.name} drawn at ${chart.width} x ${chart.height}`);
    const byName = Object.fromEntries(charts.map((chart) => [chart.name, chart]));
    assert.equal(byName.miou?.errorbars, 4, '2 methods x 2 budgets');
    assert.equal(byName.miou?.points, 4);
    assert.equal(byName.gain?.bars, 2, 'within at 2 budgets');
    assert.equal(byName.gain?.errorbars, 2);
    assert.equal(byName.curves?.lines, 5, 'pretrain: within; finetune and val mIoU: both');
    assert.equal(byName.embeddings?.dots, results.embeddings.reduce((sum, map) => sum + map.points.length, 0));

    const images = await page.$$eval('img', (elements) => elements.map((image) => ({ alt: image.alt, complete: image.complete, width: image.naturalWidth, shown: image.getBoundingClientRect().width })));
    assert.equal(images.length, 2 * 4, '2 rows of image, truth and 2 predictions');
    for (const image of images) assert.ok(image.complete && image.width > 0 && image.shown > 0, `${image.alt}: decoded ${image.width} px wide, shown ${image.shown} px`);

    const tables = await page.$$eval('table', (elements) => elements.map((table) => table.className));
    assert.deepEqual(tables, ['settings', 'results', 'classes', 'grid']);
    assert.deepEqual(problems, []);
    assert.deepEqual(requests.filter((url) => url !== pageUrl && !url.startsWith('data:')), [], 'nothing fetched');

    const artifacts = process.env.CONTRASEG_ARTIFACTS ?? join(tmpdir(), 'contraseg-artifacts');
    await mkdir(artifacts, { recursive: true });
    const screenshot = join(artifacts, 'report-browser.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`report screenshot: ${screenshot}`);
  } finally {
    await context.close();
    await rm(folder, { recursive: true, force: true });
  }
});
