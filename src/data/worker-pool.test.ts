// WorkerPool when workers die: a killed worker is replaced and its batch rebuilt (same batch), a batch that
// kills its worker twice fails with LoaderWorkerError naming its samples, and a pool whose workers cannot
// start fails every request within seconds instead of waiting on nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { DatasetError, LoaderWorkerError } from '../errors.js';
import { IMAGENET_MEAN, IMAGENET_STD, buildBatch, type BatchItem, type BatchRecipe } from './batch.js';
import { fixtureImage, temporaryFolder, writeCamVidFixture } from './fixtures.js';
import type { WorkerSetup } from './loader-worker.js';
import { openDataset } from './open-dataset.js';
import type { FileDatasetDescriptor } from './types.js';
import { MAX_RESTARTS_WITHOUT_PROGRESS, WorkerPool, startLoaderWorker, type StartWorker } from './worker-pool.js';

const folder = await temporaryFolder('contraseg-pool-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
await writeCamVidFixture(root, { train: Array.from({ length: 8 }, (_, i) => fixtureImage(`f${i}`, 24, 20, [0, 3, 5, 11], i)) });
const dataset = await openDataset({ kind: 'camvid', root, split: 'train' });
const descriptor = dataset.descriptor as FileDatasetDescriptor;
const recipe: BatchRecipe = { geometric: { scale: [0.8, 1.2], crop: { width: 16, height: 16 }, flipProbability: 0.5 }, distortions: null, mean: IMAGENET_MEAN, std: IMAGENET_STD };
const batches: BatchItem[][] = [[0, 1], [2, 3], [4, 5], [6, 7]].map((indices) => indices.map((index) => ({ index, seed: 100 + index })));

/** A worker running `body` (CommonJS, with `port` = parentPort) instead of the loader worker. */
function fakeWorker(body: string, options: ConstructorParameters<typeof Worker>[1] = {}): StartWorker {
  return () => new Worker(`const port = require('node:worker_threads').parentPort;\n${body}`, { ...options, eval: true });
}

/** Replies to every request with an empty batch whose ids are the requested indices. */
const ECHO = `(request) => port.postMessage({ id: request.id, batch: { ids: request.items.map((item) => String(item.index)), size: 0, height: 0, width: 0,
  images: new Float32Array(0), distorted: null, labels: new BigInt64Array(0) } })`;

test('a worker killed while it builds a batch is replaced and the batch is rebuilt identically', { timeout: 60_000 }, async () => {
  const started: Worker[] = [];
  const start: StartWorker = (setup: WorkerSetup) => {
    const worker = startLoaderWorker(setup);
    started.push(worker);
    return worker;
  };
  const pool = new WorkerPool(descriptor, recipe, 2, start);
  try {
    const pending = batches.map((items) => pool.run(items));
    await pending[0];
    await started[0]?.terminate(); // mid-epoch: it has just been handed the third batch
    const built = await Promise.all(pending);
    assert.ok(started.length >= 3, 'a replacement worker was started');
    for (const [i, items] of batches.entries()) assert.deepEqual(built[i], await buildBatch(dataset, items, recipe), `batch ${i}`);
  } finally {
    await pool.dispose();
  }
});

test('a batch that kills its worker twice fails with LoaderWorkerError naming its samples; the others complete', { timeout: 30_000 }, async () => {
  const pool = new WorkerPool(descriptor, recipe, 2,
    fakeWorker(`port.on('message', (request) => { if (request.items.some((item) => item.index === 3)) process.exit(7); (${ECHO})(request); });`));
  try {
    const results = await Promise.allSettled(batches.map((items) => pool.run(items)));
    assert.deepEqual(results.map((result) => result.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const error = (results[1] as PromiseRejectedResult).reason as unknown;
    assert.ok(error instanceof LoaderWorkerError && error instanceof DatasetError && error.code === 'DATASET');
    assert.equal(error.reason, 'exit code 7');
    assert.match(error.message, /loader worker building samples \[f2, f3\] of camvid train .* died 2 times \(last: exit code 7\)/);
    assert.match(error.message, /workers: 0/);
    assert.deepEqual(await pool.run(batches[0] as BatchItem[]).then((batch) => batch.ids), ['0', '1'], 'the pool still works');
  } finally {
    await pool.dispose();
  }
});

test('workers that die at start-up fail every request within seconds, and later requests at once', { timeout: 30_000 }, async () => {
  let starts = 0;
  const crashing = fakeWorker(`throw new Error('cannot open the dataset');`);
  const pool = new WorkerPool(descriptor, recipe, 2, (setup) => { starts++; return crashing(setup); });
  try {
    const results = await Promise.allSettled(batches.map((items) => pool.run(items)));
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      const error = (result as PromiseRejectedResult).reason as unknown;
      assert.ok(error instanceof LoaderWorkerError && error.reason === 'Error: cannot open the dataset', String(error));
    }
    assert.equal(starts, 2 + MAX_RESTARTS_WITHOUT_PROGRESS);
    const started = Date.now();
    await assert.rejects(pool.run(batches[0] as BatchItem[]), (error: unknown) => error instanceof LoaderWorkerError &&
      /every loader worker of camvid train .* died and 3 restarts built no batch \(last death: Error: cannot open the dataset\)/.test(error.message));
    assert.ok(Date.now() - started < 1000, 'a broken pool answers at once');
  } finally {
    await pool.dispose();
  }
});

test('a worker out of memory is named by ERR_WORKER_OUT_OF_MEMORY', { timeout: 60_000 }, async () => {
  const hog = `port.on('message', () => { const hoard = []; for (;;) hoard.push(new Array(1e5).fill(Math.random())); });`;
  const pool = new WorkerPool(descriptor, recipe, 1, fakeWorker(hog, { resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } }));
  try {
    await assert.rejects(pool.run(batches[0] as BatchItem[]), (error: unknown) =>
      error instanceof LoaderWorkerError && error.reason.startsWith('ERR_WORKER_OUT_OF_MEMORY') &&
      /samples \[f0, f1\] .* died 2 times \(last: ERR_WORKER_OUT_OF_MEMORY/.test(error.message) && /lower batchSize/.test(error.message));
  } finally {
    await pool.dispose();
  }
});
