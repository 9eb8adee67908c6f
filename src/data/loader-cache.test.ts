import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DatasetError } from '../errors.js';
import { cacheSamples } from './loader-cache.js';
import type { Sample, SegmentationDataset } from './types.js';

/** A dataset of 2x2 samples (12 image bytes + 4 mask bytes each) that counts its reads; `failing` indices reject once. */
function countingDataset(length: number, failing: Set<number> = new Set()) {
  const reads: number[] = [];
  const dataset: SegmentationDataset = {
    name: 'counting', classNames: ['a'], colours: [[0, 0, 0]], numClasses: 1, ignoreIndex: 255, length,
    ids: Array.from({ length }, (_, i) => `s${i}`),
    get: async (index: number): Promise<Sample> => {
      reads.push(index);
      if (failing.delete(index)) throw new DatasetError('cannot decode image', `s${index}.png`);
      return { id: `s${index}`, width: 2, height: 2, image: new Uint8Array(12).fill(index), mask: new Uint8Array(4) };
    },
  };
  return { dataset, reads };
}

test('a cached sample is decoded once and served again as the same arrays', async () => {
  const { dataset, reads } = countingDataset(3);
  const cached = cacheSamples(dataset, 1024);
  const first = await cached.get(1);
  const again = await cached.get(1);
  assert.equal(again.image, first.image);
  assert.deepEqual(reads, [1]);
  assert.deepEqual(cached.stats(), { hits: 1, misses: 1, bytes: 16 });
});

test('past the budget samples are decoded every time; the ones cached before stay', async () => {
  const { dataset, reads } = countingDataset(4);
  const cached = cacheSamples(dataset, 32); // two samples of 16 bytes
  for (const index of [0, 1, 2, 2, 3, 0, 1]) await cached.get(index);
  assert.deepEqual(reads, [0, 1, 2, 2, 3]); // 0 and 1 cached, 2 and 3 read each time
  assert.equal(cached.stats().bytes, 32);
});

test('budget 0 caches nothing', async () => {
  const { dataset, reads } = countingDataset(2);
  const cached = cacheSamples(dataset, 0);
  await cached.get(0);
  await cached.get(0);
  assert.deepEqual(reads, [0, 0]);
});

test('a failed read is not cached: the next request reads the file again', async () => {
  const { dataset, reads } = countingDataset(2, new Set([1]));
  const cached = cacheSamples(dataset, 1024);
  await assert.rejects(cached.get(1), (error: unknown) => error instanceof DatasetError && /cannot decode image/.test(error.message));
  const sample = await cached.get(1);
  assert.equal(sample.id, 's1');
  assert.deepEqual(reads, [1, 1]);
});
