/**
 * npm run bench -- server-load [clients] [seconds] [--model file.onnx]: issue 12's full server load test. Starts
 * `contraseg serve` (from the sources, 1 onnxruntime thread, the default queue bound of 16) on loopback with the
 * committed tiny model (web/fixtures/tiny.onnx) unless --model names another, warms it up for 3 s, then sends the
 * request mix of src/deploy/server-load.ts from `clients` concurrent clients (default 50) for `seconds` (default
 * 30) while sampling the server's RSS every 250 ms. With more clients than the queue bound, valid requests may
 * get 503 + Retry-After (the server's back-pressure; counted apart, never an error); anything else a valid request
 * gets besides 200 with its own mask, any wrong garbage status and any reset connection is a failure.
 * Prints a table and, last, one JSON object; exit code 1 if a check failed.
 */
import { readFileSync } from 'node:fs';
import { load } from '../src/deploy/segmenter.js';
import { readWebFixtures } from '../src/deploy/server-fixtures.js';
import { decodeUpload } from '../src/deploy/server-segment.js';
import { quantile, requestMix, runLoad, sampleResident, startServeProcess, validImages, type LoadReport } from '../src/deploy/server-load.js';
import { round } from './lib/paired.js';

const positional = process.argv.slice(2).filter((arg, index, all) => !arg.startsWith('--') && all[index - 1] !== '--model');
const CLIENTS = Number(positional[0] ?? 50);
const SECONDS = Number(positional[1] ?? 30);
const modelFlag = process.argv.indexOf('--model');
const fixtures = readWebFixtures();
const MODEL = modelFlag >= 0 ? process.argv[modelFlag + 1] as string : fixtures.modelFile;
const WARMUP_MS = 3_000;
const MAX_BODY = 1024 * 1024;
const MAX_PIXELS = 1_000_000;
const MiB = 2 ** 20;

const segmenter = await load(MODEL, { threads: 1 });
/**
 * As in src/deploy/server-load.test.ts: the float32 input [3, H, W] and logits [C, H, W] of the smallest valid
 * image, the buffers a leaking segmentation would keep; the RSS bound is half of that per request answered 200.
 */
const leakPerValidRequest = (3 + segmenter.metadata.classNames.length) * 4 * fixtures.width * fixtures.height;
const valid = await validImages(fixtures.imagePng, (bytes) => decodeUpload(bytes, MAX_PIXELS), (image) => segmenter.segment(image));
await segmenter.dispose();
const kinds = requestMix(valid, fixtures.imagePng, MAX_BODY);
const server = await startServeProcess(['--model', MODEL, '--threads', '1', '--max-body', String(MAX_BODY), '--max-pixels', String(MAX_PIXELS)]);
const idleBytes = sampleResident(server.pid, 1000).stop()[0]?.bytes ?? 0;
await runLoad(server.url, kinds, CLIENTS, WARMUP_MS, 1);
const sampler = sampleResident(server.pid, 250);
const report: LoadReport = await runLoad(server.url, kinds, CLIENTS, SECONDS * 1000, 2);
const samples = sampler.stop();
const health = await fetch(`${server.url}/health`).then((response) => response.status).catch((error: Error) => error.message);
const exit = await server.stop();

const failures: string[] = [];
console.log(`contraseg serve ${MODEL}: ${CLIENTS} clients x ${(report.durationMs / 1000).toFixed(1)} s after a ${WARMUP_MS / 1000} s warm-up`);
console.log(`${'kind'.padEnd(30)} ${'requests'.padStart(8)}  statuses                 wrong reset  p50 ms  p99 ms`);
for (const kind of kinds) {
  const outcome = report.kinds[kind.name];
  if (outcome === undefined) continue;
  const statuses = Object.entries(outcome.statuses).map(([status, count]) => `${status}:${count}`).join(' ');
  console.log(`${kind.name.padEnd(30)} ${String(outcome.requests).padStart(8)}  ${statuses.padEnd(24)} ${String(outcome.wrong).padStart(5)} ` +
    `${String(outcome.transportErrors).padStart(5)} ${quantile(outcome.latencies, 0.5).toFixed(1).padStart(7)} ${quantile(outcome.latencies, 0.99).toFixed(1).padStart(7)}`);
  if (outcome.wrong > 0) failures.push(`${kind.name}: ${outcome.wrong} wrong answers, e.g. ${outcome.wrongSamples.join('; ')}`);
  if (outcome.transportErrors > 0) failures.push(`${kind.name}: ${outcome.transportErrors} connection errors, e.g. ${outcome.transportSamples.join('; ')}`);
  if (outcome.requests === 0) failures.push(`${kind.name}: never sent`);
}
const validKinds = kinds.filter((kind) => kind.valid).map((kind) => report.kinds[kind.name]).filter((outcome) => outcome !== undefined);
const validTotal = validKinds.reduce((sum, outcome) => sum + outcome.requests, 0);
const served = validKinds.reduce((sum, outcome) => sum + (outcome.statuses['200'] ?? 0), 0);
const refused = validKinds.reduce((sum, outcome) => sum + (outcome.statuses['503'] ?? 0), 0);
const latencies = validKinds.flatMap((outcome) => outcome.latencies);
const totalRequests = Object.values(report.kinds).reduce((sum, outcome) => sum + outcome.requests, 0);
const start = (samples[0] as { bytes: number }).bytes;
const end = (samples[samples.length - 1] as { bytes: number }).bytes;
const peak = Math.max(...samples.map((sample) => sample.bytes));
const bound = 0.5 * leakPerValidRequest * served;
// Flatness: the peak of the last third of the run against the first third's, per request answered between them
// (a sawtooth's teeth are in both peaks; a leak makes the later one higher in proportion to the requests).
const third = (index: number): number[] => samples.filter((sample) => Math.min(2, Math.floor(3 * sample.atMs / report.durationMs)) === index).map((sample) => sample.bytes);
const firstPeak = Math.max(...third(0));
const lastPeak = Math.max(...third(2));
const servedBetween = (2 / 3) * served;
const growthPerRequest = (lastPeak - firstPeak) / servedBetween;
console.log(`valid: ${validTotal} sent, ${served} answered 200 with their own mask, ${refused} refused with 503 + Retry-After (queue full); ` +
  `200s p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms; ${(totalRequests / (report.durationMs / 1000)).toFixed(0)} requests/s in all`);
console.log(`server RSS: idle ${(idleBytes / MiB).toFixed(1)} MiB, after warm-up ${(start / MiB).toFixed(1)}, peak ${(peak / MiB).toFixed(1)}, end ${(end / MiB).toFixed(1)} ` +
  `(${samples.length} samples; leak bound +${(bound / MiB).toFixed(1)} MiB); /health after: ${health}; SIGTERM: exit ${exit.code ?? exit.signal}`);
console.log(`RSS flatness: peak of the first third ${(firstPeak / MiB).toFixed(1)} MiB, of the last third ${(lastPeak / MiB).toFixed(1)} MiB: ` +
  `${((lastPeak - firstPeak) / MiB).toFixed(1)} MiB over ~${Math.round(servedBetween)} requests answered 200 (${(growthPerRequest / 1024).toFixed(2)} KiB each)`);
console.log(`RSS samples (s: MiB): ${samples.filter((_sample, index) => index % 8 === 0).map((sample) => `${(sample.atMs / 1000).toFixed(0)}: ${(sample.bytes / MiB).toFixed(0)}`).join(', ')}`);
if (peak - start > bound) failures.push(`server RSS grew by ${((peak - start) / MiB).toFixed(1)} MiB, more than the leak bound ${(bound / MiB).toFixed(1)}`);
if (health !== 200) failures.push(`/health after the load: ${health}`);
if (exit.code !== 0) failures.push(`SIGTERM after the load: exit ${exit.code ?? exit.signal}; stderr ${server.stderr()}`);
for (const failure of failures) console.log(`FAIL ${failure}`);
console.log(JSON.stringify({
  bench: 'server-load', model: MODEL.endsWith('tiny.onnx') ? 'web/fixtures/tiny.onnx' : MODEL, model_bytes: readFileSync(MODEL).length,
  clients: CLIENTS, seconds: round(report.durationMs / 1000, 1), requests: totalRequests,
  valid: { sent: validTotal, ok: served, queue_full_503: refused, p50_ms: round(quantile(latencies, 0.5)), p99_ms: round(quantile(latencies, 0.99)) },
  kinds: Object.fromEntries(Object.entries(report.kinds).map(([name, outcome]) => [name, { requests: outcome.requests, statuses: outcome.statuses, wrong: outcome.wrong, resets: outcome.transportErrors }])),
  rss_mib: { idle: round(idleBytes / MiB), start: round(start / MiB), peak: round(peak / MiB), end: round(end / MiB), bound_growth: round(bound / MiB),
    first_third_peak: round(firstPeak / MiB), last_third_peak: round(lastPeak / MiB), growth_kib_per_200: round(growthPerRequest / 1024, 3) },
  health_after: health, exit_code: exit.code, failures: failures.length,
}));
process.exitCode = failures.length === 0 ? 0 : 1;
