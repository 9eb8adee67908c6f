/**
 * Test and benchmark support (not part of the public API): a bounded loopback load test of `contraseg serve`
 * (issue 12). A fixed pool of clients, each a loop of Node's fetch, sends a seeded mix of valid images and
 * garbage (truncated PNGs, random bytes, PNG headers declaring 100000 x 100000 pixels, bodies over the size
 * limit, empty bodies) to POST /segment for a fixed time, while the server process's RSS is sampled from
 * /proc. Every answer is checked against what its kind must get: a valid image 200 with the mask the
 * segmenter computes for it alone (so requests never see each other's results), or 503 + Retry-After
 * when the queue is full; each kind of garbage its one 4xx status.
 * Used by src/deploy/server-load.test.ts (the quick CI variant) and bench/server-load.ts (the full run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { packageRoot } from './server-http.js';

/** One kind of request of the mix. */
export interface RequestKind {
  readonly name: string;
  /** Relative frequency in the mix. */
  readonly weight: number;
  readonly contentType: string;
  /** A valid image: 200 with `expectedMask`, or 503 when the queue is full. */
  readonly valid: boolean;
  /** The status a garbage request must get. */
  readonly expectedStatus?: number;
  /** The segmenter's own mask for a valid image (format=json's ids). */
  readonly expectedMask?: Uint8Array;
  /** The body of one request, drawn with `random` (uniform in [0, 1)). */
  body(random: () => number): Uint8Array;
}

/** Outcomes of one kind. */
export interface KindReport {
  requests: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  /** Answers that were not what the kind must get (wrong status, wrong mask, no Retry-After on a 503), with a sample. */
  wrong: number;
  wrongSamples: string[];
  /** Requests that got no HTTP answer at all (connection refused or reset), with a sample of the reasons. */
  transportErrors: number;
  transportSamples: string[];
  /** Latencies (ms, request start to body read) of the answers the kind must get, excluding 503s. */
  latencies: number[];
}

/** The result of a run. */
export interface LoadReport {
  readonly clients: number;
  readonly durationMs: number;
  readonly kinds: Record<string, KindReport>;
}

/** mulberry32: a small seeded PRNG (uniform in [0, 1)), one per client so the mix is reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}

function randomBytes(length: number, random: () => number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = Math.floor(random() * 256);
  return bytes;
}

/** A PNG chunk: length, type, data, CRC over type and data. */
function pngChunk(type: string, data: Uint8Array): Buffer {
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  typeAndData.copy(chunk, 4);
  chunk.writeUInt32BE(crc32(typeAndData), 8 + data.length);
  return chunk;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A well-formed PNG header (valid CRCs) declaring width x height 8-bit RGB, then an IDAT of garbage and IEND. */
export function pngDeclaring(width: number, height: number, random: () => number): Uint8Array {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', header), pngChunk('IDAT', randomBytes(256, random)), pngChunk('IEND', new Uint8Array(0))]);
}

/** Byte offset where the last IDAT chunk's data ends: a cut before it leaves the image data incomplete. */
export function endOfImageData(png: Uint8Array): number {
  const view = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  let offset = 8;
  let end = -1;
  while (offset + 8 <= view.length) {
    const length = view.readUInt32BE(offset);
    if (view.toString('latin1', offset + 4, offset + 8) === 'IDAT') end = offset + 8 + length;
    offset += 12 + length;
  }
  if (end < 0) throw new Error('endOfImageData: the PNG has no IDAT chunk');
  return end;
}

/** A valid image of the mix and the mask the segmenter computes for it. */
export interface ValidImage {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly contentType: string;
  readonly mask: Uint8Array;
}

/**
 * The request mix: the valid images (together half of the requests), then garbage: a valid PNG cut inside its
 * image data (400), random bytes (400), the PNG signature followed by random bytes (400), a PNG declaring
 * 100000 x 100000 pixels (413, refused before decoding), a body over `maxBodyBytes` (413), an empty body (400).
 */
export function requestMix(valid: readonly ValidImage[], truncatable: Uint8Array, maxBodyBytes: number): RequestKind[] {
  const cutBefore = endOfImageData(truncatable);
  const kinds: RequestKind[] = valid.map((image) => ({
    name: image.name, weight: 6 / valid.length, contentType: image.contentType, valid: true, expectedMask: image.mask, body: () => image.bytes,
  }));
  const garbage = (name: string, expectedStatus: number, body: (random: () => number) => Uint8Array): RequestKind =>
    ({ name, weight: 1, contentType: 'image/png', valid: false, expectedStatus, body });
  kinds.push(
    garbage('truncated PNG', 400, (random) => truncatable.subarray(0, 1 + Math.floor(random() * (cutBefore - 1)))),
    garbage('random bytes', 400, (random) => randomBytes(1 + Math.floor(random() * 65536), random)),
    garbage('PNG signature + random bytes', 400, (random) => Buffer.concat([PNG_SIGNATURE, randomBytes(Math.floor(random() * 4096), random)])),
    garbage('PNG declaring 100000x100000', 413, (random) => pngDeclaring(100_000, 100_000, random)),
    garbage('body over the size limit', 413, () => new Uint8Array(maxBodyBytes + 1)),
    garbage('empty body', 400, () => new Uint8Array(0)),
  );
  return kinds;
}

function pick(kinds: readonly RequestKind[], random: () => number): RequestKind {
  const total = kinds.reduce((sum, kind) => sum + kind.weight, 0);
  let target = random() * total;
  for (const kind of kinds) {
    target -= kind.weight;
    if (target < 0) return kind;
  }
  return kinds[kinds.length - 1] as RequestKind;
}

function emptyReport(): KindReport {
  return { requests: 0, statuses: {}, wrong: 0, wrongSamples: [], transportErrors: 0, transportSamples: [], latencies: [] };
}

function sameMask(base64: string, expected: Uint8Array): boolean {
  const mask = Buffer.from(base64, 'base64');
  return mask.length === expected.length && mask.equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength));
}

/** Whether a response is what `kind` must get; reads the body. Returns a reason when it is not. */
async function judge(kind: RequestKind, response: Response): Promise<string | null> {
  const text = await response.text();
  if (kind.valid && response.status === 503) return response.headers.get('retry-after') === null ? '503 without Retry-After' : null;
  if (kind.valid) {
    if (response.status !== 200) return `status ${response.status}: ${text.slice(0, 200)}`;
    const body = JSON.parse(text) as { mask: string };
    return sameMask(body.mask, kind.expectedMask as Uint8Array) ? null : 'mask differs from the segmenter\'s own for this image';
  }
  if (response.status !== kind.expectedStatus) return `status ${response.status} (expected ${kind.expectedStatus}): ${text.slice(0, 200)}`;
  return (JSON.parse(text) as { error?: { status?: number } }).error?.status === kind.expectedStatus ? null : `no JSON error body: ${text.slice(0, 200)}`;
}

const MAX_SAMPLES = 5;

async function sendOne(url: string, kind: RequestKind, random: () => number, report: KindReport): Promise<void> {
  const body = kind.body(random);
  const started = performance.now();
  report.requests++;
  try {
    const response = await fetch(`${url}/segment${kind.valid ? '?format=json' : ''}`, { method: 'POST', body, headers: { 'Content-Type': kind.contentType } } as RequestInit);
    const reason = await judge(kind, response);
    report.statuses[response.status] = (report.statuses[response.status] ?? 0) + 1;
    if (reason !== null) {
      report.wrong++;
      if (report.wrongSamples.length < MAX_SAMPLES) report.wrongSamples.push(reason);
    } else if (response.status !== 503) {
      report.latencies.push(performance.now() - started);
    }
  } catch (error) {
    report.transportErrors++;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    if (report.transportSamples.length < MAX_SAMPLES) report.transportSamples.push(`${(error as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`);
  }
}

/** Runs `clients` loops for `durationMs`, each sending one request at a time; resolves when every loop has finished its last. */
export async function runLoad(url: string, kinds: readonly RequestKind[], clients: number, durationMs: number, seed = 1): Promise<LoadReport> {
  const reports: Record<string, KindReport> = Object.fromEntries(kinds.map((kind) => [kind.name, emptyReport()]));
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_unused, client) => {
    const random = seededRandom(seed * 7919 + client);
    while (performance.now() < deadline) {
      const kind = pick(kinds, random);
      await sendOne(url, kind, random, reports[kind.name] as KindReport);
    }
  }));
  return { clients, durationMs: performance.now() - started, kinds: reports };
}

/** The q-quantile (0..1) of `values` by nearest rank; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** The resident set size of process `pid` in bytes (VmRSS of /proc/pid/status). */
export function residentBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`/proc/${pid}/status has no VmRSS line`);
  return Number(match[1]) * 1024;
}

/** Samples residentBytes(pid) every `intervalMs` until stop(), which returns the samples (ms since start, bytes). */
export function sampleResident(pid: number, intervalMs: number): { stop(): { atMs: number; bytes: number }[] } {
  const samples: { atMs: number; bytes: number }[] = [];
  const started = performance.now();
  const take = (): void => { samples.push({ atMs: performance.now() - started, bytes: residentBytes(pid) }); };
  take();
  const timer = setInterval(take, intervalMs);
  return { stop: () => { clearInterval(timer); take(); return samples; } };
}

/** A `contraseg serve` child process. */
export interface ServeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly pid: number;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM, then the exit code and signal. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `contraseg serve --port 0 ...args` from the sources (tsx) and resolves once it prints its URL. */
export async function startServeProcess(args: readonly string[]): Promise<ServeProcess> {
  const main = join(packageRoot(), 'src', 'cli', 'main.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', '--port', '0', ...args], { cwd: packageRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (part: Buffer) => { stderr += part.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (part: Buffer) => {
      stdout += part.toString();
      const match = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout);
      if (match) resolve(match[1] as string);
    });
    void exited.then(({ code, signal }) => reject(new Error(`contraseg serve exited (${code ?? signal}) before listening: ${stderr}`)));
  });
  return {
    child, url, pid: child.pid as number, stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * The valid images of the mix, from the committed web fixture: its PNG, the same at twice the size, and a
 * JPEG of it; each mask computed by `segment` (the Node segmenter over the model the server runs) on the
 * pixels the server's own decoder (`decode`: server-segment.ts's decodeUpload) gives.
 */
export async function validImages(png: Uint8Array, decode: (bytes: Buffer) => Promise<{ data: Uint8Array; width: number; height: number }>,
  segment: (image: { data: Uint8Array; width: number; height: number }) => Promise<{ mask: Uint8Array }>): Promise<ValidImage[]> {
  const { default: sharp } = await import('sharp');
  const source = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const { width = 1, height = 1 } = await sharp(source).metadata();
  const variants = [
    { name: 'valid PNG', bytes: source, contentType: 'image/png' },
    { name: 'valid PNG, 2x', bytes: await sharp(source).resize(width * 2, height * 2).png().toBuffer(), contentType: 'image/png' },
    { name: 'valid JPEG', bytes: await sharp(source).jpeg({ quality: 90 }).toBuffer(), contentType: 'image/jpeg' },
  ];
  return Promise.all(variants.map(async (variant) => ({ ...variant, mask: (await segment(await decode(variant.bytes))).mask })));
}
