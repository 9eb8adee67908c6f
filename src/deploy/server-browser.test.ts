/**
 * The web demo in a real browser: headless Debian chromium (playwright-core, which downloads no browser)
 * on the page served by the server module over loopback. The model comes from /model.onnx and then from
 * the file picker; the mask drawn on the page's canvas must equal the Node segmenter's (>= 99.9% of
 * pixels; float32 wasm vs onnxruntime-node kernels may differ in the last bits only at near ties), agree
 * with PyTorch's, and the timing text must appear. The screenshot goes to $CONTRASEG_ARTIFACTS (default
 * <tmp>/contraseg-artifacts)/web-demo.png (docs/web-demo.png, with a trained model, is web/fixtures/screenshot.ts's).
 * Skipped, saying how to install it, where /usr/bin/chromium is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/batch.js';
import { chromiumSkipReason, launchChromium, shownMask, waitForRuns, watchPage } from './browser-harness.js';
import { exportOnnx } from './export.js';
import { classTable, perturbedModel } from './parity-fixture.js';
import { maskAgreement, readWebFixtures } from './server-fixtures.js';
import { startServer } from './server.js';
import { testSegmenter } from './server-test-segmenter.js';

const skip = chromiumSkipReason("the web demo's browser test");

test('web demo in headless chromium: model from the server, from a picked file and from contraseg export; mask = Node segmenter\'s, timing shown', { skip, timeout: 300_000 }, async () => {
  const fixtures = readWebFixtures();
  const segmenter = await testSegmenter(fixtures.modelFile);
  const server = await startServer({
    modelBytes: readFileSync(fixtures.modelFile), modelName: 'tiny.onnx', segmenter, classNames: segmenter.classNames, host: '127.0.0.1', port: 0,
  });
  const folder = await mkdtemp(join(tmpdir(), 'contraseg-web-'));
  const context = await launchChromium(join(folder, 'profile'), 'cpu', { width: 1000, height: 820 });
  try {
    const page = await context.newPage();
    const { problems, foreign } = watchPage(page, server.url);
    await page.goto(`${server.url}/`, { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.model !== undefined, undefined, { timeout: 120_000 });
    assert.equal(await page.getAttribute('body', 'data-model'), 'loaded', `page status: ${await page.textContent('#status')}`);
    assert.equal(await page.evaluate(() => window.crossOriginIsolated), true, 'COOP + COEP make the page cross-origin isolated (wasm threads)');
    assert.match(await page.textContent('#model-info') ?? '', /4 classes, (wasm, \d+ threads?|webgpu)/);

    await page.setInputFiles('#image-input', fixtures.imageFile);
    await waitForRuns(page, 1);
    const own = await segmenter.segment(fixtures.imagePng);
    const shown = await shownMask(page, own.colours);
    assert.equal(shown.length, fixtures.width * fixtures.height);
    const withNode = maskAgreement(shown, own.mask);
    assert.ok(withNode >= 0.999, `page mask agrees with the Node segmenter on ${(100 * withNode).toFixed(3)}% of pixels`);
    const withTorch = maskAgreement(shown, fixtures.expectedMask);
    console.log(`tiny model: page mask = Node segmenter's on ${(100 * withNode).toFixed(3)}%, PyTorch's on ${(100 * withTorch).toFixed(3)}% of pixels`);
    assert.ok(withTorch >= 0.999 && withTorch >= 1 - fixtures.nearTies / shown.length, `page mask agrees with PyTorch on ${(100 * withTorch).toFixed(3)}%`);
    assert.match(await page.textContent('#timing') ?? '', /^Inference: \d+\.\d ms for 83×61 on (wasm|webgpu)/);
    const legend = await page.$$eval('#legend li', (items) => items.map((item) => item.querySelector('.name')?.textContent));
    assert.deepEqual(legend, fixtures.classNames);

    await page.fill('#opacity', '0.8');
    await page.dispatchEvent('#opacity', 'input');
    assert.equal(await page.$eval('#mask-canvas', (canvas) => (canvas as HTMLCanvasElement).style.opacity), '0.8');
    const artifacts = process.env.CONTRASEG_ARTIFACTS ?? join(tmpdir(), 'contraseg-artifacts');
    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'web-demo.png'), fullPage: true });
    console.log(`web demo screenshot: ${join(artifacts, 'web-demo.png')}`);

    // the same model through the file picker: loaded anew, the current image segmented again
    await page.setInputFiles('#model-input', fixtures.modelFile);
    await waitForRuns(page, 2);
    assert.deepEqual(await shownMask(page, own.colours), shown);
    assert.match(await page.textContent('#model-info') ?? '', /^tiny\.onnx: 4 classes/);

    let deeplabColours: readonly (readonly number[])[] = [];
    let deeplabMask: Uint8Array = new Uint8Array(0);
    // a DeepLabV3+ written by contraseg's own exporter (every op it emits must run in onnxruntime-web)
    const deeplabFile = join(folder, 'deeplab-resnet18.onnx');
    const table = classTable(5);
    const model = perturbedModel('resnet18', 16, 0.25, table.classNames.length);
    try {
      writeFileSync(deeplabFile, exportOnnx(model, { ...table, mean: IMAGENET_MEAN, std: IMAGENET_STD }));
    } finally {
      model.dispose();
    }
    const deeplab = await testSegmenter(deeplabFile);
    deeplabColours = deeplab.colours;
    try {
      await page.setInputFiles('#model-input', deeplabFile);
      await waitForRuns(page, 3);
      const nodeMask = (await deeplab.segment(fixtures.imagePng)).mask;
      deeplabMask = await shownMask(page, deeplab.colours);
      const agreement = maskAgreement(deeplabMask, nodeMask);
      console.log(`exported DeepLabV3+: page mask = Node segmenter's on ${(100 * agreement).toFixed(3)}% of pixels`);
      assert.ok(agreement >= 0.999, `exported DeepLabV3+: page mask agrees with the Node segmenter on ${(100 * agreement).toFixed(3)}% of pixels`);
      assert.ok(new Set(nodeMask).size >= 2, 'the exported model predicts more than one class on the image');
    } finally {
      await deeplab.dispose();
    }
    assert.deepEqual(problems, []);
    assert.deepEqual(foreign, [], 'nothing fetched from outside the server');

    // a file that is not a model and one that is not an image: said in the status line, the page goes on
    await page.setInputFiles('#model-input', { name: 'broken.onnx', mimeType: 'application/octet-stream', buffer: Buffer.from('not a model') });
    await page.waitForFunction(() => document.body.dataset.model === 'failed', undefined, { timeout: 60_000 });
    assert.match(await page.textContent('#status') ?? '', /^Cannot load broken\.onnx: /);
    await page.setInputFiles('#image-input', { name: 'broken.png', mimeType: 'image/png', buffer: fixtures.imagePng.subarray(0, 40) });
    await page.waitForFunction(() => /^Cannot decode broken\.png/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 60_000 });
    await page.setInputFiles('#image-input', fixtures.imageFile);
    await page.waitForFunction(() => document.body.dataset.runs === '4', undefined, { timeout: 60_000 });
    assert.match(await page.textContent('#status') ?? '', /^Done/);

    // an image dropped on the page (the deeplab model is still loaded: a failed load keeps the old one)
    const dataTransfer = await page.evaluateHandle((bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], 'dropped.png', { type: 'image/png' }));
      return transfer;
    }, [...fixtures.imagePng]);
    await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer });
    await page.waitForFunction(() => document.body.dataset.runs === '5', undefined, { timeout: 60_000 });
    assert.deepEqual(await shownMask(page, deeplabColours), deeplabMask);
  } finally {
    await context.close();
    await server.close();
    await segmenter.dispose();
    await rm(folder, { recursive: true, force: true });
  }
});
