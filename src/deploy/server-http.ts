/**
 * HTTP plumbing of `contraseg serve`: the headers every response carries (cross-origin isolation, so the
 * page may use wasm threads), JSON errors, bounded request bodies and the static assets (web/ and
 * onnxruntime-web's dist files, read from node_modules: no CDN, no network).
 */
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';

/**
 * Headers of every response. COOP + COEP make the page cross-origin isolated (SharedArrayBuffer, hence
 * onnxruntime-web's wasm threads); CORP lets the isolated page load our own resources.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

/** MIME types of the files we serve; anything else is not served. */
export const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
};

/**
 * An HTTP failure with the status to answer and a message for the client. It never leaves the server:
 * the request handler turns it into a JSON error response (user-facing errors of the command itself, such
 * as a missing model or a busy port, are ContrasegErrors).
 */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, message: string, headers: Readonly<Record<string, string>> = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.headers = headers;
  }
}

/** A file to serve (read from disk per request: the .wasm files are tens of MB) and its MIME type. */
export interface StaticAsset {
  readonly file: string;
  readonly type: string;
}

/** Writes a complete response with the security headers. */
export function send(response: ServerResponse, status: number, type: string, body: Buffer | string, headers: Readonly<Record<string, string>> = {}): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  response.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': String(bytes.length), 'Cache-Control': 'no-store', ...headers });
  response.end(response.req.method === 'HEAD' ? undefined : bytes);
}

/** Writes a JSON body. */
export function sendJson(response: ServerResponse, status: number, value: unknown, headers: Readonly<Record<string, string>> = {}): void {
  send(response, status, 'application/json', `${JSON.stringify(value)}\n`, headers);
}

/** Writes `{ error: { status, message } }`; the connection is closed after a body we did not read. */
export function sendError(response: ServerResponse, error: HttpError, closeConnection = false): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const headers = closeConnection ? { ...error.headers, Connection: 'close' } : error.headers;
  sendJson(response, error.status, { error: { status: error.status, message: error.message } }, headers);
}

/**
 * Bytes of an over-limit body read and discarded before the 413, so that a client still uploading sees the
 * answer instead of a broken pipe (EPIPE); past this the connection is closed unread.
 */
const DRAIN_BYTES = 64 * 2 ** 20;

/** Reads and discards what is left of a request body, up to `limit` bytes (then stops: the caller closes). */
async function drain(request: IncomingMessage, limit: number): Promise<void> {
  let discarded = 0;
  try {
    for await (const part of request) {
      discarded += (part as Buffer).length;
      if (discarded > limit) return;
    }
  } catch {
    // the client went away: nothing left to drain
  }
}

/**
 * Reads a request body of at most `maxBytes`.
 * @throws HttpError 413 when Content-Length or the bytes received exceed the limit, 400 when the client
 *   aborts or sends no body.
 */
export async function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = (): HttpError => new HttpError(413, `request body is larger than the limit of ${maxBytes} bytes; ` +
    'send a smaller image or start contraseg serve with a larger --max-body');
  const declared = Number(request.headers['content-length']);
  const drainLimit = maxBytes + DRAIN_BYTES;
  if (Number.isFinite(declared) && declared > maxBytes) {
    if (declared <= drainLimit) await drain(request, drainLimit);
    throw tooLarge();
  }
  const parts: Buffer[] = [];
  let received = 0;
  try {
    for await (const part of request) {
      received += (part as Buffer).length;
      if (received > maxBytes) {
        await drain(request, drainLimit - received);
        throw tooLarge();
      }
      parts.push(part as Buffer);
    }
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, `the request body could not be read (${(error as Error).message})`);
  }
  if (received === 0) throw new HttpError(400, 'empty request body: POST the PNG or JPEG bytes of an image');
  return Buffer.concat(parts, received);
}

/** Walks up from this module to the package root (the folder whose package.json is contraseg's). */
export function packageRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { name?: string };
      if (manifest.name === 'contraseg') return folder;
    } catch {
      // no package.json here: keep walking up
    }
    const parent = dirname(folder);
    if (parent === folder) throw new ConfigError(`cannot find the contraseg package root above ${fileURLToPath(import.meta.url)}; reinstall contraseg`);
    folder = parent;
  }
}

/** The dist folder of onnxruntime-web in node_modules (ort*.mjs and the .wasm files). */
export function onnxruntimeWebDist(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  } catch (error) {
    throw new ConfigError(`onnxruntime-web is not installed (${(error as Error).message.split('\n')[0]}); run \`npm ci\` in the contraseg folder`);
  }
}

/**
 * The static assets of the page, keyed by URL path: the top-level files of `webRoot` ("/" = index.html;
 * subfolders such as fixtures/ are not served), onnxruntime-web's .mjs and .wasm files under /ort/, and
 * protobuf.js's minimal reader (onnxruntime-web's own dependency) under /vendor/ for the page to read
 * the model's metadata_props.
 * @throws ConfigError when web/ or a dependency is missing.
 */
export function loadStaticAssets(webRoot: string): Map<string, StaticAsset> {
  const assets = new Map<string, StaticAsset>();
  const add = (urlPath: string, file: string): void => {
    const type = MIME_TYPES[extname(file)];
    if (type !== undefined) assets.set(urlPath, { file, type });
  };
  let names: string[];
  try {
    names = readdirSync(webRoot).filter((name) => statSync(join(webRoot, name)).isFile());
  } catch (error) {
    throw new ConfigError(`cannot read the web page folder ${webRoot} (${(error as Error).message}); reinstall contraseg`);
  }
  if (!names.includes('index.html')) throw new ConfigError(`${join(webRoot, 'index.html')} is missing; reinstall contraseg`);
  for (const name of names) add(`/${name}`, join(webRoot, name));
  assets.set('/', assets.get('/index.html') as StaticAsset);
  const ortDist = onnxruntimeWebDist();
  for (const name of readdirSync(ortDist)) {
    if (/^ort.*\.(mjs|wasm)$/.test(name)) add(`/ort/${name}`, join(ortDist, name));
  }
  const protobuf = createRequire(join(ortDist, 'ort.node.min.js')).resolve('protobufjs/dist/minimal/protobuf.min.js');
  add('/vendor/protobuf.min.js', protobuf);
  return assets;
}

/** Streams a static asset (GET) or only its headers (HEAD). */
export function sendAsset(response: ServerResponse, asset: StaticAsset): void {
  let size: number;
  try {
    size = statSync(asset.file).size;
  } catch {
    sendError(response, new HttpError(404, `${asset.file} has disappeared from the contraseg installation; reinstall it`));
    return;
  }
  response.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': asset.type, 'Content-Length': String(size), 'Cache-Control': 'no-cache' });
  if (response.req.method === 'HEAD') {
    response.end();
    return;
  }
  const stream = createReadStream(asset.file);
  stream.on('error', () => response.destroy());
  stream.pipe(response);
}
