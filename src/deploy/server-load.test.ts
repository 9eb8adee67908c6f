/**
 * The quick CI variant of issue 12's server load test (bench/server-load.ts is the full one): `contraseg serve`
 * as a child process with the committed tiny model, 10 concurrent clients for 4 s (after a 3 s warm-up of the
 * same load) sending the mix of src/deploy/server-load.ts. Fewer clients than the queue bound (16), so a 503
 * is impossible here: every valid request must get 200 with the mask the segmenter computes for that image
 * alone, every garbage request its 4xx, no request a reset connection; the server stays up, its RSS flat,
 * and SIGTERM still stops it with exit 0.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { load, type Segmenter } from './segmenter.js';
import { readWebFixtures } from './server-fixtures.js';
import { decodeUpload } from './server-segment.js';
import { quantile, requestMix, runLoad, sampleResident, startServeProcess, validImages, type LoadReport, type RequestKind, type ServeProcess } from './server-load.js';

const CLIENTS = 10;
const WARMUP_MS = 3_000;
const MEASURED_MS = 4_000;
const MAX_BODY = 256 * 1024;
const MAX_PIXELS = 1_000_000;
/**
 * Bytes a valid request would leak if the server kept the smallest buffers it makes per segmentation: the
 * model's float32 input [3, H, W] and logits [4, H, W] of the 83 x 61 fixture, 7 x 4 x 83 x 61 = 142 KB.
 * The RSS bound is half of that times the valid requests of the measured phase: such a leak fails the test
 * twice over, while allocator and libvips-cache settling after the warm-up stays at a few MB.
 */
const LEAK_PER_VALID_REQUEST = 7 * 4 * 83 * 61;

const fixtures = readWebFixtures();
let segmenter: Segmenter;
let server: ServeProcess;
let kinds: RequestKind[];

before(async () => {
  // one onnxruntime thread on both sides: the same kernels and order, so the masks are bit for bit the server's
  segmenter = await load(fixtures.modelFile, { threads: 1 });
  const valid = await validImages(fixtures.imagePng, (bytes) => decodeUpload(bytes, MAX_PIXELS), (image) => segmenter.segment(image));
  kinds = requestMix(valid, fixtures.imagePng, MAX_BODY);
  server = await startServeProcess(['--model', fixtures.modelFile, '--threads', '1', '--max-body', String(MAX_BODY), '--max-pixels', String(MAX_PIXELS)]);
});
after(async () => {
  await server?.stop();
  await segmenter?.dispose();
});

function validRequests(report: LoadReport): number {
  return kinds.filter((kind) => kind.valid).reduce((sum, kind) => sum + (report.kinds[kind.name]?.requests ?? 0), 0);
}

test(`${CLIENTS} clients for ${MEASURED_MS / 1000} s of valid and garbage images: every answer right, no 503, no reset, RSS flat, server alive`, { timeout: 120_000 }, async () => {
  await runLoad(server.url, kinds, CLIENTS, WARMUP_MS, 1);
  const sampler = sampleResident(server.pid, 100);
  const report = await runLoad(server.url, kinds, CLIENTS, MEASURED_MS, 2);
  const samples = sampler.stop();

  for (const kind of kinds) {
    const outcome = report.kinds[kind.name];
    assert.ok(outcome !== undefined && outcome.requests > 0, `${kind.name}: sent at least once`);
    // an over-limit body is drained (up to 64 MiB) before its 413, so no client may see EPIPE or a reset
    assert.equal(outcome.transportErrors, 0, `${kind.name}: connection errors ${outcome.transportSamples.join('; ')}`);
    assert.equal(outcome.wrong, 0, `${kind.name}: wrong answers ${outcome.wrongSamples.join('; ')}`);
    const expected = kind.valid ? 200 : kind.expectedStatus;
    assert.deepEqual(Object.keys(outcome.statuses), [String(expected)], `${kind.name}: statuses ${JSON.stringify(outcome.statuses)}`);
  }
  const latencies = kinds.filter((kind) => kind.valid).flatMap((kind) => report.kinds[kind.name]?.latencies ?? []);
  const first = (samples[0] as { bytes: number }).bytes;
  const peak = Math.max(...samples.map((sample) => sample.bytes));
  const bound = 0.5 * LEAK_PER_VALID_REQUEST * validRequests(report);
  console.log(`${CLIENTS} clients, ${(report.durationMs / 1000).toFixed(1)} s: ${validRequests(report)} valid requests, valid p50 ${quantile(latencies, 0.5).toFixed(1)} ms, ` +
    `p99 ${quantile(latencies, 0.99).toFixed(1)} ms; server RSS ${(first / 2 ** 20).toFixed(1)} -> peak ${(peak / 2 ** 20).toFixed(1)} MiB (bound +${(bound / 2 ** 20).toFixed(1)} MiB)`);
  assert.ok(bound >= 8 * 2 ** 20, `the phase sent too few valid requests (${validRequests(report)}) for the RSS check to catch a leak`);
  assert.ok(peak - first <= bound, `server RSS grew by ${((peak - first) / 2 ** 20).toFixed(1)} MiB over the measured phase, more than ${(bound / 2 ** 20).toFixed(1)}`);

  const health = await fetch(`${server.url}/health`);
  assert.equal(health.status, 200);
  assert.equal((await health.json() as { queued: number }).queued, 0, 'nothing left in the queue');
  assert.deepEqual(await server.stop(), { code: 0, signal: null }, `SIGTERM after the load: graceful exit. stderr: ${server.stderr()}`);
});
