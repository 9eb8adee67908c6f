import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { datasetStats } from './stats.js';
import { fixtureImage, temporaryFolder, writeCamVidFixture } from './fixtures.js';
import { openDataset } from './open-dataset.js';

const folder = await temporaryFolder('contraseg-stats-');
after(() => folder.remove());

test('datasetStats counts images, sizes and class pixels by hand', async () => {
  const root = join(folder.path, 'camvid');
  // 8x4 image: 4x4 blocks cycle 0, 11 in a row -> 16 pixels of 0, 16 of void. 4x8 image: blocks cycle by rows (offset 5 per block row): [3] only.
  await writeCamVidFixture(root, { train: [fixtureImage('a', 8, 4, [0, 11]), fixtureImage('b', 4, 8, [3])] });
  const stats = await datasetStats(await openDataset({ kind: 'camvid', root, split: 'train' }));
  assert.equal(stats.images, 2);
  assert.equal(stats.totalPixels, 64);
  assert.deepEqual(stats.sizes, [{ width: 8, height: 4, count: 1 }, { width: 4, height: 8, count: 1 }]);
  assert.equal(stats.classes.length, 11);
  assert.deepEqual(stats.classes[0], { id: 0, name: 'Sky', pixels: 16, fraction: 0.25 });
  assert.deepEqual(stats.classes[3], { id: 3, name: 'Road', pixels: 32, fraction: 0.5 });
  assert.equal(stats.classes[1]?.pixels, 0);
  assert.equal(stats.ignorePixels, 16);
  assert.equal(stats.ignoreFraction, 0.25);
});
