import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fixtureImage, temporaryFolder, writeCamVidFixture } from './fixtures.js';
import { createLoader } from './loader.js';
import { openDataset } from './open-dataset.js';

// LoaderOptions.shard (data-parallel training): rank r of W gets the r-th contiguous slice of each global
// batch of the unsharded loader with batch W x b, pixel for pixel (same seeds, same augmentation draws).

const folder = await temporaryFolder('contraseg-loader-shard-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
await writeCamVidFixture(root, { train: Array.from({ length: 9 }, (_, i) => fixtureImage(`f${i}`, 40, 28, [0, 3, 5, 11], i)) });
const dataset = await openDataset({ kind: 'camvid', root, split: 'train' });
const augment = { scale: [0.7, 1.6] as const, crop: { width: 24, height: 20 }, flipProbability: 0.5 };

async function epochOf(batchSize: number, shard?: { rank: number; worldSize: number }) {
  const loader = createLoader(dataset, { batchSize, seed: 3, augment, views: { kind: 'single' }, workers: 0, ...(shard === undefined ? {} : { shard }) });
  const batches: { ids: readonly string[]; images: number[] }[] = [];
  try {
    for await (const batch of loader.epoch(1)) {
      batches.push({ ids: batch.ids, images: batch.images.toArray() });
      batch.dispose();
    }
    return { batches, batchesPerEpoch: loader.batchesPerEpoch };
  } finally {
    await loader.dispose();
  }
}

test('shard: each rank\'s batches are its slices of the global batches; a partial global batch is dropped', async () => {
  const whole = await epochOf(4); // 9 images, shuffled: 2 full batches of 4 (the last one dropped)
  const ranks = [await epochOf(2, { rank: 0, worldSize: 2 }), await epochOf(2, { rank: 1, worldSize: 2 })];
  assert.equal(whole.batches.length, 2);
  for (const [rank, sharded] of ranks.entries()) {
    assert.equal(sharded.batchesPerEpoch, 2);
    sharded.batches.forEach((batch, index) => {
      const global = whole.batches[index] as { ids: readonly string[]; images: number[] };
      assert.deepEqual(batch.ids, global.ids.slice(2 * rank, 2 * rank + 2));
      const perImage = global.images.length / 4;
      assert.deepEqual(batch.images, global.images.slice(2 * rank * perImage, (2 * rank + 2) * perImage));
    });
  }
  const seen = new Set(ranks.flatMap((sharded) => sharded.batches.flatMap((batch) => [...batch.ids])));
  assert.equal(seen.size, 8); // disjoint across ranks: 8 distinct images of the 9 (one dropped with the partial batch)
});
