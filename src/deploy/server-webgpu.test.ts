/**
 * The web demo's WebGPU path in a real browser: headless Debian chromium with SwiftShader's WebGPU adapter (a
 * software Vulkan on the CPU: the page's `webgpu` branch runs, on no GPU), the page served by the server module.
 * For the committed tiny model and for DeepLabV3+ (ResNet-18 and MobileNetV2) written by `exportOnnx`, the page
 * must report the `webgpu` execution provider (not its wasm fallback), its mask must equal the Node segmenter's on
 * >= 99.9% of pixels, and its logits for the page's own input must equal onnxruntime-node's within
 * MAX_RELATIVE_LOGIT_DIFFERENCE. Screenshot: $CONTRASEG_ARTIFACTS (default <tmp>/contraseg-artifacts)/web-demo-webgpu.png.
 * Skipped where /usr/bin/chromium is missing or offers no WebGPU adapter with these flags (then the page runs
 * on wasm, which server-browser.test.ts covers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Page } from 'playwright-core';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/batch.js';
import type { BackboneKind } from '../models/config.js';
import { chromiumArgs, chromiumSkipReason, launchChromium, shownMask, waitForRuns, watchPage, webgpuAdapter } from './browser-harness.js';
import { exportOnnx } from './export.js';
import { classTable, perturbedModel } from './parity-fixture.js';
import { maskAgreement, readWebFixtures } from './server-fixtures.js';
import { startServer } from './server.js';
import { testSegmenter } from './server-test-segmenter.js';

const skip = chromiumSkipReason("the web demo's WebGPU test");

/**
 * WGSL's f32 + and * are correctly rounded, so a WebGPU kernel differs from onnxruntime-node's MLAS one only
 * in summation order (and fused multiply-adds): per K-term dot product a relative rounding of ~sqrt(K) * 6e-8
 * (K <= 9 * 256 here: ~3e-6), over ~25 layers ~1e-5 of max |logit| at worst in practice. A wrong kernel (a
 * padding, dilation or resize mode off) moves logits by O(1) of their scale. 1e-4 separates the two, the bound
 * of the export parity tests (src/deploy/export.test.ts) and bench/inference.ts.
 */
const MAX_RELATIVE_LOGIT_DIFFERENCE = 1e-4;
/** onnxruntime-web prints its warnings (W) with console.error: that shape ops sit on the CPU next to the WebGPU kernels. */
const ORT_WARNING = /\[W:onnxruntime:[^\]]*\] Some nodes were not assigned|\[W:onnxruntime:[^\]]*\] Rerunning with verbose output/;

/** The page's input (its image canvas, normalised by web/segment.js) and the logits its session gives for it. */
async function pageLogits(page: Page): Promise<{ input: Float32Array; dims: number[]; logits: Float32Array }> {
  const result = await page.evaluate(async () => {
    // the same module instance app.js imported (one module map per page)
    const ortWeb = await import(new URL('/ort/ort.webgpu.min.mjs', location.href).href);
    const { normalisedPlanes } = await import(new URL('/segment.js', location.href).href);
    const demo = (window as unknown as { contrasegDemo: { session: { inputNames: string[]; outputNames: string[]; run(feeds: object): Promise<Record<string, { getData(): Promise<Float32Array> }>> }; metadata: { mean: number[]; std: number[] } } }).contrasegDemo;
    const canvas = document.getElementById('image-canvas') as HTMLCanvasElement;
    const { width, height } = canvas;
    const rgba = canvas.getContext('2d')?.getImageData(0, 0, width, height).data;
    const input: Float32Array = normalisedPlanes(rgba, width, height, demo.metadata.mean, demo.metadata.std);
    const dims = [1, 3, height, width];
    const outputs = await demo.session.run({ [demo.session.inputNames[0] as string]: new ortWeb.Tensor('float32', input, dims) });
    const logits = await outputs[demo.session.outputNames[0] as string]?.getData();
    return { input: Array.from(input), dims, logits: Array.from(logits ?? []) };
  });
  return { input: Float32Array.from(result.input), dims: result.dims, logits: Float32Array.from(result.logits) };
}

/** Asserts that the page's logits equal onnxruntime-node's for the same input bytes; returns the relative difference. */
async function checkLogits(page: Page, modelBytes: Uint8Array, what: string): Promise<number> {
  const { input, dims, logits } = await pageLogits(page);
  const session = await ort.InferenceSession.create(modelBytes, { graphOptimizationLevel: 'all', interOpNumThreads: 1, intraOpNumThreads: 1 });
  try {
    const outputs = await session.run({ [session.inputNames[0] as string]: new ort.Tensor('float32', input, dims) });
    const reference = outputs[session.outputNames[0] as string]?.data as Float32Array;
    assert.equal(logits.length, reference.length, `${what}: page logits vs onnxruntime-node's`);
    let largest = 0;
    let difference = 0;
    for (let index = 0; index < reference.length; index++) {
      largest = Math.max(largest, Math.abs(reference[index] as number));
      difference = Math.max(difference, Math.abs((logits[index] as number) - (reference[index] as number)));
    }
    const relative = difference / largest;
    console.log(`${what}: WebGPU logits max |difference| ${difference.toExponential(2)} = ${relative.toExponential(2)} of max |logit| ${largest.toFixed(2)}`);
    assert.ok(relative <= MAX_RELATIVE_LOGIT_DIFFERENCE, `${what}: WebGPU logits differ from onnxruntime-node's by ${relative} of max |logit| (> ${MAX_RELATIVE_LOGIT_DIFFERENCE})`);
    return relative;
  } finally {
    await session.release();
  }
}

/** A DeepLabV3+ (x0.25, OS 16, 5 classes) written by contraseg's exporter. */
function exportedDeeplab(kind: BackboneKind, file: string): Uint8Array {
  const table = classTable(5);
  const model = perturbedModel(kind, 16, 0.25, table.classNames.length);
  try {
    const bytes = exportOnnx(model, { ...table, mean: IMAGENET_MEAN, std: IMAGENET_STD });
    writeFileSync(file, bytes);
    return bytes;
  } finally {
    model.dispose();
  }
}

test('web demo on WebGPU (SwiftShader, headless chromium): the page reports webgpu; masks = Node segmenter\'s, logits = onnxruntime-node\'s', { skip, timeout: 300_000 }, async (t) => {
  const fixtures = readWebFixtures();
  const tinyBytes = readFileSync(fixtures.modelFile);
  const segmenter = await testSegmenter(fixtures.modelFile);
  const server = await startServer({ modelBytes: tinyBytes, modelName: 'tiny.onnx', segmenter, classNames: segmenter.classNames, host: '127.0.0.1', port: 0 });
  const folder = await mkdtemp(join(tmpdir(), 'contraseg-webgpu-'));
  const context = await launchChromium(join(folder, 'profile'), 'swiftshader-webgpu', { width: 1000, height: 820 });
  try {
    const page = await context.newPage();
    const { problems, foreign } = watchPage(page, server.url, ORT_WARNING);
    // ?ep=webgpu: the page skips a fallback (software) adapter unless asked for it
    await page.goto(`${server.url}/?ep=webgpu`, { waitUntil: 'load' });
    const adapter = await webgpuAdapter(page);
    if (adapter === null) {
      t.skip(`chromium (${context.browser()?.version() ?? '?'}) offers no WebGPU adapter with ${chromiumArgs('swiftshader-webgpu').join(' ')}; the page runs on wasm there (server-browser.test.ts)`);
      return;
    }
    console.log(`WebGPU adapter: vendor ${adapter.vendor}, architecture ${adapter.architecture}, fallback ${adapter.isFallbackAdapter}`);
    await page.waitForFunction(() => document.body.dataset.model !== undefined, undefined, { timeout: 120_000 });
    assert.equal(await page.getAttribute('body', 'data-model'), 'loaded', `page status: ${await page.textContent('#status')}`);
    assert.match(await page.textContent('#model-info') ?? '', /^model\.onnx: 4 classes, webgpu, cross-origin isolated/);

    await page.setInputFiles('#image-input', fixtures.imageFile);
    await waitForRuns(page, 1);
    const own = await segmenter.segment(fixtures.imagePng);
    const shown = await shownMask(page, own.colours);
    assert.equal(shown.length, fixtures.width * fixtures.height);
    const withNode = maskAgreement(shown, own.mask);
    const withTorch = maskAgreement(shown, fixtures.expectedMask);
    console.log(`tiny model on WebGPU: page mask = Node segmenter's on ${(100 * withNode).toFixed(3)}%, PyTorch's on ${(100 * withTorch).toFixed(3)}% of pixels`);
    assert.ok(withNode >= 0.999, `page mask agrees with the Node segmenter on ${(100 * withNode).toFixed(3)}% of pixels`);
    assert.ok(withTorch >= 0.999 && withTorch >= 1 - fixtures.nearTies / shown.length, `page mask agrees with PyTorch on ${(100 * withTorch).toFixed(3)}%`);
    assert.match(await page.textContent('#timing') ?? '', /^Inference: \d+\.\d ms for 83×61 on webgpu/);
    await checkLogits(page, tinyBytes, 'tiny model');
    const artifacts = process.env.CONTRASEG_ARTIFACTS ?? join(tmpdir(), 'contraseg-artifacts');
    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'web-demo-webgpu.png'), fullPage: true });
    console.log(`WebGPU web demo screenshot: ${join(artifacts, 'web-demo-webgpu.png')}`);

    // every op contraseg's exporter emits, for both backbones (depthwise convolutions in MobileNetV2), on WebGPU
    for (const [index, kind] of (['resnet18', 'mobilenetv2'] as const).entries()) {
      const file = join(folder, `deeplab-${kind}.onnx`);
      const bytes = exportedDeeplab(kind, file);
      const deeplab = await testSegmenter(file);
      try {
        await page.setInputFiles('#model-input', file);
        await waitForRuns(page, 2 + index);
        assert.match(await page.textContent('#model-info') ?? '', new RegExp(`^deeplab-${kind}\\.onnx: 5 classes, webgpu,`));
        const nodeMask = (await deeplab.segment(fixtures.imagePng)).mask;
        const agreement = maskAgreement(await shownMask(page, deeplab.colours), nodeMask);
        console.log(`exported DeepLabV3+ ${kind} on WebGPU: page mask = Node segmenter's on ${(100 * agreement).toFixed(3)}% of pixels`);
        assert.ok(agreement >= 0.999, `${kind}: page mask agrees with the Node segmenter on ${(100 * agreement).toFixed(3)}% of pixels`);
        assert.ok(new Set(nodeMask).size >= 2, `${kind}: the exported model predicts more than one class on the image`);
        await checkLogits(page, bytes, `DeepLabV3+ ${kind}`);
      } finally {
        await deeplab.dispose();
      }
    }
    // without ?ep=webgpu a fallback (software) adapter is passed over: the page runs on wasm
    if (adapter.isFallbackAdapter === true) {
      await page.goto(`${server.url}/`, { waitUntil: 'load' });
      await page.waitForFunction(() => document.body.dataset.model !== undefined, undefined, { timeout: 120_000 });
      assert.match(await page.textContent('#model-info') ?? '', /^model\.onnx: 4 classes, wasm/);
    }
    assert.deepEqual(problems, []);
    assert.deepEqual(foreign, [], 'nothing fetched from outside the server');
  } finally {
    await context.close();
    await server.close();
    await segmenter.dispose();
    await rm(folder, { recursive: true, force: true });
  }
});
