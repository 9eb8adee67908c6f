/**
 * Screenshots of a rendered report.html (the sweep's), for docs/results: the whole page, and its top (title,
 * table, mIoU chart) at the browser's width. Headless Debian chromium through playwright-core.
 *   node --import tsx scripts/dev/screenshot-report.ts docs/results/report.html docs/results/screenshots
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [report, outDir] = process.argv.slice(2);
if (report === undefined || outDir === undefined) {
  console.error('usage: screenshot-report.ts <report.html> <out-dir>');
  process.exit(2);
}
await mkdir(outDir, { recursive: true });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('request', (request) => { if (!request.url().startsWith('file:') && !request.url().startsWith('data:')) problems.push(`fetched ${request.url()}`); });
  await page.goto(pathToFileURL(resolve(report)).href, { waitUntil: 'load' });
  await page.screenshot({ path: join(outDir, 'report-full.png'), fullPage: true });
  await page.screenshot({ path: join(outDir, 'report-top.png') });
  if (problems.length > 0) throw new Error(`the report did not render cleanly: ${problems.join('; ')}`);
  console.log(`screenshots in ${outDir}: report-full.png, report-top.png`);
} finally {
  await browser.close();
}
