import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { liveTensorCount } from '../torch/scope.js';
import { fixtureImage, temporaryFolder, writeCamVidFixture } from './fixtures.js';
import { createLoader, type Batch, type Loader } from './loader.js';
import { openDataset } from './open-dataset.js';
import type { SegmentationDataset } from './types.js';

const folder = await temporaryFolder('contraseg-stream-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
await writeCamVidFixture(root, { train: Array.from({ length: 5 }, (_, i) => fixtureImage(`f${i}`, 30, 22, [0, 3, 5, 8], i)) });
const dataset = await openDataset({ kind: 'camvid', root, split: 'train' });
const augment = { scale: [0.8, 1.25] as const, crop: { width: 16, height: 12 }, flipProbability: 0.5 };

async function take(loader: Loader<Batch>, count: number, from?: { epoch: number; batch: number }) {
  const out: { ids: readonly string[]; images: number[] }[] = [];
  for await (const batch of loader.stream(from)) {
    out.push({ ids: batch.ids, images: batch.images.toArray() });
    batch.dispose();
    if (out.length === count) break;
  }
  return out;
}

test('K = 5 images fill batches of 8: an epoch is two permutations, every image at least once, repeats drawn anew', async () => {
  const loader = createLoader(dataset, { batchSize: 8, seed: 3, augment, views: { kind: 'single' }, workers: 1, repeatToFill: true });
  try {
    assert.equal(loader.batchesPerEpoch, 1); // 2 x 5 = 10 samples, drop last -> one batch of 8
    const [batch] = await take(loader, 1);
    assert.equal(batch?.ids.length, 8);
    const counts = new Map<string, number>();
    for (const id of batch?.ids ?? []) counts.set(id, (counts.get(id) ?? 0) + 1);
    assert.ok([...counts.values()].every((n) => n <= 2));
    // the first permutation holds all five images; positions 5..7 repeat three of them with new augmentation
    assert.equal(new Set(batch?.ids.slice(0, 5)).size, 5);
    const pixels = 3 * 12 * 16;
    const first = batch?.ids.indexOf(batch.ids[5] as string) as number;
    assert.notDeepEqual(batch?.images.slice(first * pixels, (first + 1) * pixels), batch?.images.slice(5 * pixels, 6 * pixels));
  } finally {
    await loader.dispose();
  }
});

test('without repeatToFill a batch larger than the dataset stays a ConfigError naming the fix', () => {
  assert.throws(() => createLoader(dataset, { batchSize: 8, seed: 0, augment, views: { kind: 'single' } }),
    (error: unknown) => error instanceof ConfigError && /repeatToFill: true/.test(error.message));
});

test('stream() crosses epochs; stream({ epoch, batch }) resumes exactly where the uninterrupted stream stood', async () => {
  const loader = createLoader(dataset, { batchSize: 2, seed: 9, augment, views: { kind: 'single' }, workers: 1 });
  const before = liveTensorCount();
  try {
    assert.equal(loader.batchesPerEpoch, 2);
    const all = await take(loader, 7);
    assert.equal(all.length, 7);
    const resumed = await take(loader, 4, { epoch: 1, batch: 1 }); // step 3 = epoch 1, batch 1
    assert.deepEqual(resumed, all.slice(3));
  } finally {
    await loader.dispose();
  }
  assert.equal(liveTensorCount(), before);
});

test('the workers\' decoded-sample cache changes no batch, and serves later epochs without reading the files again', async () => {
  const copy = await temporaryFolder('contraseg-cache-');
  try {
    const cacheRoot = join(copy.path, 'camvid');
    await writeCamVidFixture(cacheRoot, { train: Array.from({ length: 5 }, (_, i) => fixtureImage(`c${i}`, 30, 22, [0, 3, 5, 8], i)) });
    const cachedData = await openDataset({ kind: 'camvid', root: cacheRoot, split: 'train' });
    const options = { batchSize: 5, seed: 4, augment, views: { kind: 'single' } as const, workers: 1 };
    const uncached = createLoader(cachedData, { ...options, cacheBytes: 0 });
    const cached = createLoader(cachedData, options);
    try {
      const expected = await take(uncached, 3); // three epochs of one batch, every image decoded each time
      const stream = cached.stream();
      const first = await stream.next();
      assert.ok(first.done !== true);
      const got = [{ ids: first.value.ids, images: first.value.images.toArray() }];
      first.value.dispose();
      await rm(join(cacheRoot, 'train'), { recursive: true }); // every image of epoch 0 is cached now
      for (let i = 0; i < 2; i++) {
        const next = await stream.next();
        assert.ok(next.done !== true);
        got.push({ ids: next.value.ids, images: next.value.images.toArray() });
        next.value.dispose();
      }
      await stream.return();
      assert.deepEqual(got, expected);
    } finally {
      await uncached.dispose();
      await cached.dispose();
    }
  } finally {
    await copy.remove();
  }
});

test('stream() prefetches across epoch boundaries: with one batch per epoch the next epoch\'s batch is requested before it is asked for', async () => {
  const reads: number[] = [];
  const memory: SegmentationDataset = {
    name: 'memory', classNames: ['a'], colours: [[0, 0, 0]], numClasses: 1, ignoreIndex: 255, length: 4, ids: ['m0', 'm1', 'm2', 'm3'],
    get: async (index: number) => {
      reads.push(index);
      return { id: `m${index}`, width: 2, height: 2, image: new Uint8Array(12).fill(index), mask: new Uint8Array(4) };
    },
  };
  const loader = createLoader(memory, { batchSize: 4, seed: 1, augment: null, views: { kind: 'single' }, prefetch: 2 });
  const before = liveTensorCount();
  try {
    assert.equal(loader.batchesPerEpoch, 1);
    const stream = loader.stream();
    const first = await stream.next();
    assert.ok(first.done !== true);
    first.value.dispose();
    assert.equal(reads.length, 12); // epoch 0's batch, and epochs 1 and 2 (prefetch 2) in flight while step 1 would run; 4 when each epoch restarted the queue
    await stream.return();
  } finally {
    await loader.dispose();
  }
  assert.equal(liveTensorCount(), before);
});
