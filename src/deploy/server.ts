/**
 * The local HTTP server of `contraseg serve` (Node's `http`): the browser demo (web/, onnxruntime-web
 * from node_modules) with the headers cross-origin isolation needs, the model bytes for the page, and
 * `POST /segment` for other programs. Every failure is answered with a status and a JSON error; nothing
 * a client sends can stop the server.
 *
 * Routes: GET / (and web/'s files), GET /ort/*, GET /vendor/protobuf.min.js, GET /model.onnx,
 * GET /health, POST /segment[?format=png|json][&mask=colour|ids].
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { HttpError, loadStaticAssets, packageRoot, readBody, send, sendAsset, sendError, sendJson, type StaticAsset } from './server-http.js';
import { checkUploadType, decodeUpload, encodeSegmentResponse, parseSegmentFormat, SerialQueue, type ImageSegmenter } from './server-segment.js';

/** Default limit of a `/segment` body: 20 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024;
/**
 * Default limit of an uploaded image's pixels (width x height): 2048 x 2048. DeepLabV3+'s stride-4 decoder
 * maps alone take 256 channels x pixels / 16 x 4 bytes each (256 MiB here), and the logits C x pixels x 4.
 */
export const DEFAULT_MAX_PIXELS = 2048 * 2048;
/** Default bound of segmentations waiting or running at once. */
export const DEFAULT_MAX_QUEUE = 16;

/** Settings of {@link startServer}. */
export interface ServerOptions {
  /** The ONNX model's bytes, served as /model.onnx to the page. */
  readonly modelBytes: Uint8Array;
  /** The model's name shown by /health (e.g. its file name). */
  readonly modelName: string;
  /** Segments `/segment` uploads; called for one request at a time. */
  readonly segmenter: ImageSegmenter;
  /** Class names for /health. */
  readonly classNames: readonly string[];
  readonly host?: string;
  /** 0 picks a free port. Default 8080. */
  readonly port?: number;
  readonly maxBodyBytes?: number;
  readonly maxPixels?: number;
  readonly maxQueue?: number;
  /** The page's folder; default the package's web/. */
  readonly webRoot?: string;
}

/** A listening server. */
export interface RunningServer {
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections, lets running requests finish, closes idle keep-alive connections. */
  close(): Promise<void>;
}

interface Context {
  readonly options: ServerOptions;
  readonly assets: Map<string, StaticAsset>;
  readonly queue: SerialQueue;
  readonly maxBodyBytes: number;
  readonly maxPixels: number;
  /** The model's bytes as a Buffer view (not a copy per request). */
  readonly modelBody: Buffer;
}

/**
 * Starts the server and resolves once it listens.
 * @throws ConfigError when web/ or onnxruntime-web is missing; the listen error (EADDRINUSE, EACCES) as
 *   a ConfigError naming the address.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const context: Context = {
    options,
    assets: loadStaticAssets(options.webRoot ?? join(packageRoot(), 'web')),
    queue: new SerialQueue(options.maxQueue ?? DEFAULT_MAX_QUEUE),
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS,
    modelBody: Buffer.from(options.modelBytes.buffer, options.modelBytes.byteOffset, options.modelBytes.byteLength),
  };
  const server = createServer({ requestTimeout: 60_000, headersTimeout: 20_000 }, (request, response) => {
    handle(context, request, response).catch((error: unknown) => {
      // handle() answers every expected failure; this is a bug, but one request must not stop the server
      sendError(response, new HttpError(500, `internal error: ${(error as Error)?.message ?? String(error)}`), true);
    });
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  const host = options.host ?? '127.0.0.1';
  await listen(server, host, options.port ?? 8080);
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () => closeServer(server, context.queue),
  };
}

async function listen(server: Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const hint = error.code === 'EADDRINUSE' ? 'another program uses that port: pick another with --port' : 'check --host and --port';
      reject(new ConfigError(`cannot listen on ${host}:${port} (${error.code ?? error.message}): ${hint}`));
    });
    server.listen(port, host, () => resolve());
  });
}

async function closeServer(server: Server, queue: SerialQueue): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await queue.drain();
  server.closeIdleConnections();
  await closed;
}

async function handle(context: Context, request: IncomingMessage, response: ServerResponse): Promise<void> {
  let url: URL;
  try {
    url = new URL(request.url ?? '/', 'http://localhost');
  } catch {
    sendError(response, new HttpError(400, `cannot parse the request target ${JSON.stringify(request.url)}`), true);
    return;
  }
  const method = request.method ?? 'GET';
  const route = routeOf(context, url.pathname);
  if (route === undefined) {
    sendError(response, new HttpError(404, `no such path: ${url.pathname}. Paths: /, /model.onnx, /health, POST /segment`), request.method === 'POST');
    return;
  }
  const allowed = route === 'segment' ? ['POST'] : ['GET', 'HEAD'];
  if (!allowed.includes(method)) {
    sendError(response, new HttpError(405, `${method} ${url.pathname}: use ${allowed.join(' or ')}`, { Allow: allowed.join(', ') }), true);
    return;
  }
  switch (route) {
    case 'model':
      send(response, 200, 'application/octet-stream', context.modelBody, { 'Cache-Control': 'no-cache' });
      return;
    case 'health':
      sendJson(response, 200, { status: 'ok', model: context.options.modelName, classNames: context.options.classNames, queued: context.queue.pending });
      return;
    case 'segment':
      return handleSegment(context, request, response, url.searchParams);
    default:
      sendAsset(response, route.asset);
  }
}

type Route = 'model' | 'health' | 'segment' | { readonly asset: StaticAsset };

function routeOf(context: Context, pathname: string): Route | undefined {
  if (pathname === '/model.onnx') return 'model';
  if (pathname === '/health') return 'health';
  if (pathname === '/segment') return 'segment';
  const asset = context.assets.get(pathname);
  return asset === undefined ? undefined : { asset };
}

async function handleSegment(context: Context, request: IncomingMessage, response: ServerResponse, query: URLSearchParams): Promise<void> {
  let bodyRead = false;
  try {
    const format = parseSegmentFormat(query);
    checkUploadType(request.headers['content-type']);
    const bytes = await readBody(request, context.maxBodyBytes);
    bodyRead = true;
    const image = await decodeUpload(bytes, context.maxPixels);
    const { result, inferenceMs } = await context.queue.run(async () => {
      const started = performance.now();
      const segmented = await context.options.segmenter.segment(image);
      return { result: segmented, inferenceMs: performance.now() - started };
    });
    const { type, body } = encodeSegmentResponse(result, format, Math.round(inferenceMs * 100) / 100);
    send(response, 200, type, body, { 'X-Inference-Ms': inferenceMs.toFixed(2) });
  } catch (error) {
    const httpError = error instanceof HttpError ? error : new HttpError(500, `segmentation failed: ${(error as Error)?.message ?? String(error)}`);
    // a body we did not read to its end would be parsed as the next request: close the connection
    sendError(response, httpError, !bodyRead);
  }
}
