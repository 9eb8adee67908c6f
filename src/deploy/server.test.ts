/**
 * `contraseg serve`'s HTTP server over loopback with the committed tiny model (web/fixtures): a valid
 * image gives the segmenter's own mask and PyTorch's, every kind of bad request a 4xx with a JSON error,
 * and the server keeps serving after each.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { decodePngValues } from '../data/png.js';
import { maskAgreement, readWebFixtures } from './server-fixtures.js';
import { startServer, type RunningServer } from './server.js';
import { testSegmenter, type TestSegmenter } from './server-test-segmenter.js';

const fixtures = readWebFixtures();

/** Writes raw bytes to the server and returns everything it answers until it closes the connection. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text));
    let reply = '';
    socket.on('data', (part) => { reply += part.toString(); });
    socket.on('end', () => resolve(reply));
    socket.on('error', reject);
  });
}
const MAX_BODY = 256 * 1024;

describe('contraseg serve: HTTP server', () => {
  let server: RunningServer;
  let segmenter: TestSegmenter;
  before(async () => {
    segmenter = await testSegmenter(fixtures.modelFile);
    server = await startServer({
      modelBytes: readFileSync(fixtures.modelFile), modelName: 'tiny.onnx', segmenter, classNames: segmenter.classNames,
      host: '127.0.0.1', port: 0, maxBodyBytes: MAX_BODY, maxPixels: 1_000_000,
    });
  });
  after(async () => {
    await server.close();
    await segmenter.dispose();
  });

  const post = (body: Uint8Array | string, query = '', headers: Record<string, string> = { 'Content-Type': 'image/png' }): Promise<Response> =>
    fetch(`${server.url}/segment${query}`, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers } as RequestInit);
  async function assertJsonError(response: Response, status: number, pattern: RegExp): Promise<void> {
    assert.equal(response.status, status);
    assert.equal(response.headers.get('content-type'), 'application/json');
    const body = await response.json() as { error: { status: number; message: string } };
    assert.equal(body.error.status, status);
    assert.match(body.error.message, pattern);
  }
  async function assertAlive(): Promise<void> {
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json() as { status: string }).status, 'ok');
  }

  test('POST /segment?format=json: the segmenter\'s own mask, PyTorch\'s on all but near-tie pixels, class counts', async () => {
    const response = await post(fixtures.imagePng, '?format=json');
    assert.equal(response.status, 200);
    const body = await response.json() as { width: number; height: number; classNames: string[]; counts: number[]; mask: string; inferenceMs: number };
    assert.deepEqual([body.width, body.height], [fixtures.width, fixtures.height]);
    assert.deepEqual(body.classNames, fixtures.classNames);
    const mask = new Uint8Array(Buffer.from(body.mask, 'base64'));
    const own = await segmenter.segment(fixtures.imagePng);
    assert.deepEqual(mask, own.mask, 'the server decodes as the segmenter does: the same mask, pixel for pixel');
    // float32 inference against the float64 reference can only flip pixels whose reference margin is tiny
    const agreement = maskAgreement(mask, fixtures.expectedMask);
    assert.ok(agreement >= 1 - fixtures.nearTies / mask.length && agreement >= 0.999, `agreement with PyTorch ${agreement}`);
    assert.equal(body.counts.reduce((sum, count) => sum + count, 0), mask.length);
    assert.deepEqual(body.counts, fixtures.classNames.map((_name, classId) => mask.filter((value) => value === classId).length));
    assert.ok(body.inferenceMs > 0);
  });

  test('POST /segment (png, default): a palette PNG whose values are the ids and whose palette is the class colours', async () => {
    const response = await post(fixtures.imagePng);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/png');
    const png = Buffer.from(await response.arrayBuffer());
    const own = await segmenter.segment(fixtures.imagePng);
    assert.deepEqual(decodePngValues(png, 'response')?.values, own.mask);
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [fixtures.width, fixtures.height]);
    for (const pixel of [0, 1234, own.mask.length - 1]) {
      assert.deepEqual([...data.subarray(pixel * 3, pixel * 3 + 3)], own.colours[own.mask[pixel] as number], `pixel ${pixel}`);
    }
    const ids = await post(fixtures.imagePng, '?format=png&mask=ids');
    assert.deepEqual(decodePngValues(Buffer.from(await ids.arrayBuffer()), 'ids')?.values, own.mask);
  });

  test('a JPEG is segmented too', async () => {
    const jpeg = await sharp(fixtures.imagePng).jpeg({ quality: 95 }).toBuffer();
    const response = await post(jpeg, '?format=json', { 'Content-Type': 'image/jpeg' });
    assert.equal(response.status, 200);
    const body = await response.json() as { width: number; height: number; mask: string };
    assert.deepEqual([body.width, body.height], [fixtures.width, fixtures.height]);
    assert.deepEqual(new Uint8Array(Buffer.from(body.mask, 'base64')), (await segmenter.segment(jpeg)).mask, 'decoded as the segmenter decodes a JPEG');
  });

  test('garbage, a truncated PNG, an empty body, a wrong Content-Type, a bad format: 4xx with a JSON error, server alive', async () => {
    await assertJsonError(await post('this is not an image at all'), 400, /not a PNG or JPEG/);
    await assertAlive();
    await assertJsonError(await post(fixtures.imagePng.subarray(0, Math.floor(fixtures.imagePng.length / 2))), 400, /truncated or corrupt/);
    await assertAlive();
    await assertJsonError(await post(fixtures.imagePng.subarray(0, 30)), 400, /corrupt/);
    await assertJsonError(await post(new Uint8Array(0)), 400, /empty request body/);
    await assertJsonError(await post('{"image": 1}', '', { 'Content-Type': 'application/json' }), 415, /Content-Type application\/json/);
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(fixtures.imagePng)], { type: 'image/png' }), 'image.png');
    await assertJsonError(await fetch(`${server.url}/segment`, { method: 'POST', body: form }), 415, /Content-Type multipart\/form-data.*--data-binary/);
    const curlDefault = await post(fixtures.imagePng, '', { 'Content-Type': 'application/x-www-form-urlencoded' });
    assert.equal(curlDefault.status, 200, 'curl --data-binary without -H sends x-www-form-urlencoded: the bytes decide');
    await curlDefault.arrayBuffer();
    await assertJsonError(await post(fixtures.imagePng, '?format=gif'), 400, /format=gif/);
    await assertJsonError(await post(fixtures.imagePng, '?mask=rainbow'), 400, /mask=rainbow/);
    await assertAlive();
  });

  test('an oversized body: 413 (declared and streamed), an image of too many pixels: 413, server alive', async () => {
    await assertJsonError(await post(new Uint8Array(MAX_BODY + 1)), 413, new RegExp(`limit of ${MAX_BODY} bytes`));
    await assertAlive();
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let part = 0; part < 8; part++) controller.enqueue(new Uint8Array(MAX_BODY / 4));
        controller.close();
      },
    });
    const streamed = await fetch(`${server.url}/segment`, { method: 'POST', body: chunked, duplex: 'half' } as RequestInit);
    await assertJsonError(streamed, 413, /larger than the limit/);
    const huge = await sharp({ create: { width: 2000, height: 1000, channels: 3, background: '#000' } }).png().toBuffer();
    await assertJsonError(await post(huge), 413, /more than 1000000 pixels/);
    await assertAlive();
  });

  test('wrong method: 405 with Allow; unknown path: 404; raw garbage on the socket: 400; server alive', async () => {
    const get = await fetch(`${server.url}/segment`);
    await assertJsonError(get, 405, /use POST/);
    assert.equal(get.headers.get('allow'), 'POST');
    const put = await fetch(`${server.url}/model.onnx`, { method: 'PUT', body: 'x' });
    await assertJsonError(put, 405, /use GET or HEAD/);
    await assertJsonError(await fetch(`${server.url}/../../etc/passwd`), 404, /no such path/);
    await assertJsonError(await fetch(`${server.url}/fixtures/tiny.onnx`), 404, /no such path/);
    const reply = await rawRequest(server.port, '\x00\xff garbage \r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400/);
    const badTarget = await rawRequest(server.port, 'GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(badTarget, /^HTTP\/1\.1 400/);
    await assertAlive();
  });

  test('the page, onnxruntime-web and the model: cross-origin isolation headers and MIME types', async () => {
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.match(await page.text(), /<script type="module" src="app\.js">/);
    const wasm = await fetch(`${server.url}/ort/ort-wasm-simd-threaded.asyncify.wasm`, { method: 'HEAD' });
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.ok(Number(wasm.headers.get('content-length')) > 1_000_000);
    const ort = await fetch(`${server.url}/ort/ort.webgpu.min.mjs`);
    assert.equal(ort.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(ort.headers.get('cross-origin-embedder-policy'), 'require-corp');
    const model = await fetch(`${server.url}/model.onnx`);
    assert.equal(model.status, 200);
    assert.deepEqual(Buffer.from(await model.arrayBuffer()), readFileSync(fixtures.modelFile));
    const health = await (await fetch(`${server.url}/health`)).json() as { model: string; classNames: string[] };
    assert.deepEqual(health, { status: 'ok', model: 'tiny.onnx', classNames: fixtures.classNames, queued: 0 });
  });

  test('concurrent requests queue into the one session: every answer correct, never more than one segment() at a time', async () => {
    const own = await segmenter.segment(fixtures.imagePng);
    segmenter.maxConcurrent = 0;
    const responses = await Promise.all(Array.from({ length: 6 }, () => post(fixtures.imagePng, '?format=png&mask=ids')));
    for (const response of responses) {
      assert.equal(response.status, 200);
      assert.deepEqual(decodePngValues(Buffer.from(await response.arrayBuffer()), 'ids')?.values, own.mask);
    }
    assert.equal(segmenter.maxConcurrent, 1);
  });
});

test('a full queue: 503 with Retry-After at once, the queued request still answered', async () => {
  const segmenter = await testSegmenter(fixtures.modelFile);
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let started: () => void = () => undefined;
  const running = new Promise<void>((resolve) => { started = resolve; });
  const gated = {
    async segment(image: Parameters<TestSegmenter['segment']>[0]) {
      started();
      await gate; // held until the test has seen the 503
      return segmenter.segment(image);
    },
  };
  const server = await startServer({
    modelBytes: readFileSync(fixtures.modelFile), modelName: 'tiny.onnx', segmenter: gated, classNames: segmenter.classNames, port: 0, maxQueue: 1,
  });
  try {
    const request = (): Promise<Response> => fetch(`${server.url}/segment?format=json`, { method: 'POST', body: new Uint8Array(fixtures.imagePng) });
    const first = request();
    await running;
    const second = await request();
    assert.equal(second.status, 503);
    assert.equal(second.headers.get('retry-after'), '1');
    assert.match((await second.json() as { error: { message: string } }).error.message, /1 segmentation is already running or queued \(the limit\); retry shortly/);
    release();
    assert.equal((await first).status, 200);
    assert.equal((await request()).status, 200, 'the queue is free again');
  } finally {
    release();
    await server.close();
    await segmenter.dispose();
  }
});
