/**
 * Test and bench support: headless Debian chromium driven by playwright-core (which downloads no browser),
 * on the CPU-only configuration the wasm tests use or with SwiftShader's WebGPU adapter, and readers of what
 * the demo page shows. Used by server-browser.test.ts, server-webgpu.test.ts and bench/inference-sides.ts.
 * Not part of the public API.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * `cpu`: no GPU at all (`--disable-gpu`: no WebGPU adapter), onnxruntime-web runs on wasm.
 * `swiftshader-webgpu`: WebGPU on SwiftShader, a software Vulkan that runs on the CPU (adapter vendor google,
 * architecture swiftshader, isFallbackAdapter): the page's WebGPU code path, on no GPU.
 */
export type ChromiumBackend = 'cpu' | 'swiftshader-webgpu';

const QUIET_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Chromium's command-line flags for a backend. */
export function chromiumArgs(backend: ChromiumBackend): string[] {
  switch (backend) {
    case 'cpu':
      return [...QUIET_ARGS, '--disable-gpu'];
    case 'swiftshader-webgpu':
      return [...QUIET_ARGS, '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader'];
    default: {
      const never: never = backend;
      throw new Error(`unknown chromium backend ${String(never)}`);
    }
  }
}

/** False if chromium is installed, else the reason a browser test skips (with the install command). */
export function chromiumSkipReason(what: string): string | false {
  return existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install it with \`apt-get install chromium\` (Debian) to run ${what}`;
}

/** Headless chromium with a fresh profile in `profileFolder` (the caller removes it). */
export function launchChromium(profileFolder: string, backend: ChromiumBackend, viewport?: { width: number; height: number }): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileFolder, {
    executablePath: CHROMIUM, headless: true, args: chromiumArgs(backend), ...(viewport === undefined ? {} : { viewport }),
  });
}

/** What `navigator.gpu.requestAdapter()` gave the page (a secure context: http://127.0.0.1 is one). */
export interface AdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly description: string;
  readonly isFallbackAdapter: boolean;
}

/** The page's WebGPU adapter, or null if the browser offers none. */
export async function webgpuAdapter(page: Page): Promise<AdapterInfo | null> {
  return page.evaluate(async () => {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info: AdapterInfo & { isFallbackAdapter?: boolean } } | null> } }).gpu;
    const adapter = await gpu?.requestAdapter().catch(() => null);
    if (!adapter) return null;
    const { vendor, architecture, description, isFallbackAdapter } = adapter.info;
    return { vendor, architecture, description, isFallbackAdapter: isFallbackAdapter === true };
  });
}

/** Console errors, page errors and HTTP errors of a page, and requests that left `origin`. */
export interface PageWatch {
  readonly problems: string[];
  readonly foreign: string[];
}

/**
 * Records a page's problems. `tolerated` matches console errors that are not problems (onnxruntime-web prints
 * its warnings, e.g. that shape ops were placed on the CPU next to the WebGPU kernels, with console.error).
 */
export function watchPage(page: Page, origin: string, tolerated?: RegExp): PageWatch {
  const watch: PageWatch = { problems: [], foreign: [] };
  page.on('console', (message) => {
    if (message.type() === 'error' && !(tolerated?.test(message.text()) ?? false)) watch.problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => watch.problems.push(`page error: ${error.message}`));
  page.on('response', (response) => { if (response.status() >= 400) watch.problems.push(`HTTP ${response.status()}: ${response.url()}`); });
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith('blob:') && !url.startsWith('data:')) watch.foreign.push(url);
  });
  return watch;
}

/** The class ids shown on the mask canvas: each pixel's colour looked up in the class colours (255 = no class colour). */
export async function shownMask(page: Page, colours: readonly (readonly number[])[]): Promise<Uint8Array> {
  const rgba = await page.evaluate(() => {
    const canvas = document.getElementById('mask-canvas') as HTMLCanvasElement;
    return Array.from(canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? []);
  });
  const idOf = new Map(colours.map((colour, classId) => [colour.join(','), classId]));
  return Uint8Array.from({ length: rgba.length / 4 }, (_unused, pixel) => idOf.get(rgba.slice(pixel * 4, pixel * 4 + 3).join(',')) ?? 255);
}

/** Waits until the page has segmented `runs` times (or failed: then asserts, quoting its status line). */
export async function waitForRuns(page: Page, runs: number, timeout = 120_000): Promise<void> {
  await page.waitForFunction((count) => document.body.dataset.runs === String(count) || document.body.dataset.status === 'error', runs, { timeout });
  const status = await page.textContent('#status');
  assert.notEqual(await page.getAttribute('body', 'data-status'), 'error', `page status: ${status}`);
}
