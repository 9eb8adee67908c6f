/**
 * The runtimes of bench/inference.ts, each behind the same small interface: run `count` forward passes
 * of one batch-1 image and return each pass's milliseconds. Every side holds the same weights (one contraseg
 * model: exported to ONNX for onnxruntime-node and onnxruntime-web, saved as safetensors for the PyTorch twin).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumArgs, launchChromium, webgpuAdapter, type AdapterInfo } from '../src/deploy/browser-harness.js';
import { startServer, type RunningServer } from '../src/deploy/server.js';
import type { SegmentationModel } from '../src/models/segmentation-model.js';
import { tensor } from '../src/torch/creation.js';
import { keep, noGrad, scope } from '../src/torch/scope.js';
import type { Tensor } from '../src/torch/tensor.js';
import { startPytorch, type PytorchWorker } from './lib/paired.js';

/** One runtime under test. */
export interface InferenceSide {
  readonly name: string;
  /** Runs `count` passes, returns their times in ms. */
  runBlock(count: number): Promise<number[]>;
  close(): Promise<void>;
}

/** The session options of src/deploy/segmenter.ts's load(), with `threads` intra-op threads. */
export function nodeSessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return { graphOptimizationLevel: 'all', interOpNumThreads: 1, intraOpNumThreads: threads };
}

/** onnxruntime-node on the exported bytes; `logits()` gives one pass's output for the weight check. */
export async function onnxNodeSide(onnx: Uint8Array, input: Float32Array, dims: number[], threads: number):
  Promise<InferenceSide & { logits(): Promise<Float32Array> }> {
  const session = await ort.InferenceSession.create(onnx, nodeSessionOptions(threads));
  const feeds = { image: new ort.Tensor('float32', input, dims) };
  const once = async (): Promise<Float32Array> => {
    const outputs = await session.run(feeds);
    const logits = outputs.logits as ort.Tensor;
    const copy = (logits.data as Float32Array).slice();
    for (const value of Object.values(outputs)) value.dispose();
    return copy;
  };
  return {
    name: 'onnxruntime-node',
    logits: once,
    async runBlock(count) {
      const times: number[] = [];
      for (let pass = 0; pass < count; pass++) {
        const start = performance.now();
        const outputs = await session.run(feeds);
        times.push(performance.now() - start);
        for (const value of Object.values(outputs)) value.dispose();
      }
      return times;
    },
    close: () => session.release(),
  };
}

/** contraseg's own path (libtorch through the addon): eval mode, no grad, forwardAtInputSize as `contraseg predict`. */
export function libtorchSide(model: SegmentationModel, input: Float32Array, dims: number[]): InferenceSide & { logits(): Float32Array } {
  const images = keep(tensor(input, dims)); // [1, 3, H, W]
  model.eval();
  const forward = (): Tensor => model.forwardAtInputSize(images);
  return {
    name: 'contraseg/libtorch',
    logits: () => noGrad(() => scope(() => forward().toTypedArray() as Float32Array)),
    async runBlock(count) {
      const times: number[] = [];
      for (let pass = 0; pass < count; pass++) {
        const start = performance.now();
        noGrad(() => scope(() => { forward(); }));
        times.push(performance.now() - start);
      }
      return times;
    },
    close: async () => images.dispose(),
  };
}

/** Files the PyTorch side reads, in a temp folder removed by close(). */
export interface TorchFiles {
  readonly weights: string;
  readonly input: string;
  readonly logits: string;
}

/** The PyTorch twin (bench/inference_torch.py) in a child process; `logits()` reads its output for the weight check. */
export async function pytorchSide(script: string, args: (string | number)[], files: TorchFiles, size: number):
  Promise<InferenceSide & { logits(): Promise<Float32Array> }> {
  const worker: PytorchWorker = await startPytorch(script, args);
  return {
    name: 'PyTorch',
    async logits() {
      await worker.run('check');
      const bytes = readFileSync(files.logits);
      const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      if (values.length !== size) throw new Error(`${files.logits}: ${values.length} logits, expected ${size}`);
      return values;
    },
    async runBlock(count) {
      const times: number[] = [];
      for (let pass = 0; pass < count; pass++) times.push((await worker.run('infer')).ms as number);
      return times;
    },
    close: async () => { await worker.run('quit'); },
  };
}

/** A temp folder for one model's files. */
export function benchFolder(): { folder: string; remove(): void } {
  const folder = mkdtempSync(join(tmpdir(), 'contraseg-bench-inference-'));
  return { folder, remove: () => rmSync(folder, { recursive: true, force: true }) };
}

/** onnxruntime-web's execution provider in the page; `webgpu` runs on SwiftShader's adapter (src/deploy/browser-harness.ts). */
export type WebBackend = 'wasm' | 'webgpu';

/** The side's name in tables and JSON: the WebGPU one says it is a software adapter on the CPU, not a GPU. */
export function webSideName(backend: WebBackend): string {
  return backend === 'wasm' ? 'onnxruntime-web (wasm)' : 'onnxruntime-web (WebGPU, SwiftShader: CPU, no GPU)';
}

/** What the browser side reports once its session is up. */
export interface BrowserInfo {
  readonly crossOriginIsolated: boolean;
  readonly threads: number;
  readonly hardwareConcurrency: number;
  readonly userAgent: string;
  /** The WebGPU adapter (`webgpu` backend only). */
  readonly adapter: AdapterInfo | null;
}

/**
 * onnxruntime-web in headless Chromium: a minimal page served by src/deploy/server.ts (its COOP/COEP headers
 * make the page cross-origin isolated, so wasm threads are available), the same ort bundle as web/app.js
 * (ort.webgpu.min.mjs), one execution provider: `wasm` (`threads` wasm threads, chromium without GPU) or
 * `webgpu` (chromium with SwiftShader's WebGPU adapter; shape ops stay on ort's CPU provider as in the page).
 * The set-up runs one pass (the checksum), which is also the side's first warm-up. With `profile`, the session
 * profiles every pass from the set-up's on (`enableProfiling`), and endProfiling() returns the profile's events.
 */
export async function browserSide(onnx: Uint8Array, input: Float32Array, dims: number[], threads: number, folder: string, backend: WebBackend,
  profile = false): Promise<InferenceSide & { info: BrowserInfo; checksum: { sum: number; absSum: number }; endProfiling(): Promise<unknown[]> }> {
  const webRoot = join(folder, `web-${backend}`);
  mkdirSync(webRoot);
  writeFileSync(join(webRoot, 'index.html'), '<!doctype html><html><head><meta charset="utf-8"><title>contraseg inference bench</title></head><body></body></html>\n');
  const unused = { segment: () => { throw new Error('the inference bench does not POST /segment'); } };
  const server: RunningServer = await startServer({ modelBytes: onnx, modelName: 'bench.onnx', segmenter: unused, classNames: [], host: '127.0.0.1', port: 0, webRoot });
  let context: BrowserContext | undefined;
  try {
    context = await launchChromium(join(folder, `profile-${backend}`), backend === 'wasm' ? 'cpu' : 'swiftshader-webgpu');
    const page = await context.newPage();
    const consoleLines: string[] = [];
    page.on('console', (message) => consoleLines.push(message.text()));
    await page.goto(`${server.url}/`, { waitUntil: 'load' });
    const adapter = backend === 'webgpu' ? await webgpuAdapter(page) : null;
    if (backend === 'webgpu' && adapter === null) {
      throw new Error(`chromium offers no WebGPU adapter with ${chromiumArgs('swiftshader-webgpu').join(' ')}; run the bench with --no-webgpu`);
    }
    const inputBase64 = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('base64');
    const setup = await inPage<{ info: Omit<BrowserInfo, 'adapter'>; checksum: { sum: number; absSum: number } }>(page, SET_UP_SESSION, { threads, dims, inputBase64, backend, profile });
    const ownContext = context;
    return {
      name: webSideName(backend),
      info: { ...setup.info, adapter },
      checksum: setup.checksum,
      runBlock: (count) => inPage<number[]>(page, RUN_BLOCK, count),
      async endProfiling() {
        if (!profile) throw new Error('endProfiling: the browser side was set up without profile');
        const from = consoleLines.length;
        await inPage<void>(page, END_PROFILING, null);
        // ort-web prints the chrome-trace JSON to the console a line at a time: '[', one event per line, ']'
        const lines = consoleLines.slice(from);
        const start = lines.findIndex((line) => line.trim() === '[');
        const end = lines.findIndex((line, index) => index > start && line.trim() === ']');
        if (start < 0 || end < 0) throw new Error(`onnxruntime-web printed no profile (console: ${lines.slice(0, 3).join(' | ').slice(0, 300)})`);
        return JSON.parse(lines.slice(start, end + 1).join('\n')) as unknown[];
      },
      async close() {
        await ownContext.close();
        await server.close();
      },
    };
  } catch (error) {
    await context?.close();
    await server.close();
    throw error;
  }
}

/**
 * Runs in the page (plain JS: a TypeScript function handed to page.evaluate would carry the transpiler's
 * helpers): imports ort, creates the session on `backend`, runs one pass and returns checksums of its logits.
 */
const SET_UP_SESSION = `async ({ threads, dims, inputBase64, backend, profile }) => {
  const ort = await import(new URL('/ort/ort.webgpu.min.mjs', location.href).href);
  ort.env.wasm.wasmPaths = new URL('/ort/', location.href).href;
  ort.env.wasm.numThreads = threads;
  const modelBytes = new Uint8Array(await (await fetch('/model.onnx')).arrayBuffer());
  const session = await ort.InferenceSession.create(modelBytes, { executionProviders: [backend], graphOptimizationLevel: 'all', enableProfiling: profile });
  const raw = atob(inputBase64);
  const bytes = new Uint8Array(raw.length);
  for (let index = 0; index < raw.length; index++) bytes[index] = raw.charCodeAt(index);
  const feeds = { image: new ort.Tensor('float32', new Float32Array(bytes.buffer), dims) };
  globalThis.bench = { session, feeds };
  const logits = (await session.run(feeds)).logits.data;
  let sum = 0, absSum = 0;
  for (const value of logits) { sum += value; absSum += Math.abs(value); }
  return {
    info: { crossOriginIsolated: globalThis.crossOriginIsolated, threads: ort.env.wasm.numThreads, hardwareConcurrency: navigator.hardwareConcurrency, userAgent: navigator.userAgent },
    checksum: { sum, absSum },
  };
}`;

/** Runs in the page: `count` timed passes of the session set up above. */
const RUN_BLOCK = `async (count) => {
  const times = [];
  for (let pass = 0; pass < count; pass++) {
    const start = performance.now();
    await globalThis.bench.session.run(globalThis.bench.feeds);
    times.push(performance.now() - start);
  }
  return times;
}`;

/** Runs in the page: ends the session's profiling (ort-web prints the profile to the console). */
const END_PROFILING = `async () => { globalThis.bench.session.endProfiling(); }`;

/** Calls one of the page scripts above with a JSON argument. */
function inPage<T>(page: Page, script: string, argument: unknown): Promise<T> {
  return page.evaluate(`(${script})(${JSON.stringify(argument)})`) as Promise<T>;
}
