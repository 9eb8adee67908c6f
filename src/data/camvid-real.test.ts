import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { join } from 'node:path';
import { openDataset } from './open-dataset.js';
import { datasetStats } from './stats.js';
import { sharedDataFolder } from './fixtures.js';

const full = sharedDataFolder('camvid');
const small = sharedDataFolder('camvid_180x240');
const missing = 'real CamVid data not found in ../shared/data (set CONTRASEG_DATA to the folder holding camvid/ and camvid_180x240/)';

test('camvid (SegNet lists): 367/101/233 images, /SegNet/CamVid/ prefixes stripped, masks equal sharp\'s decode with 11 -> 255', async (t) => {
  if (full === undefined) return t.skip(missing);
  const counts = await Promise.all(['train', 'val', 'test'].map(async (split) => (await openDataset({ kind: 'camvid', root: full, split })).length));
  assert.deepEqual(counts, [367, 101, 233]);
  const train = await openDataset({ kind: 'camvid', root: full, split: 'train' });
  assert.equal(train.ids[0], '0001TP_006690');
  for (const index of [0, 200]) {
    const sample = await train.get(index);
    assert.equal(sample.width, 480);
    assert.equal(sample.height, 360);
    const decoded: { data: Buffer; info: sharp.OutputInfo } = await sharp(join(full, 'trainannot', `${sample.id}.png`))
      .extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    assert.equal(decoded.info.channels, 1);
    assert.deepEqual(sample.mask, Uint8Array.from(decoded.data, (value: number) => (value === 11 ? 255 : value)));
    const rgb: Buffer = await sharp(join(full, 'train', `${sample.id}.png`)).raw().toBuffer();
    assert.deepEqual(sample.image, new Uint8Array(rgb));
  }
});

test('camvid_180x240 val: class shares match the README histogram (void reported as ignore)', async (t) => {
  if (small === undefined) return t.skip(missing);
  const val = await openDataset({ kind: 'camvid', root: small, split: 'val' });
  assert.equal(val.length, 101);
  const stats = await datasetStats(val);
  assert.deepEqual(stats.sizes, [{ width: 240, height: 180, count: 101 }]);
  // camvid_180x240/README.md, "val:" row, percentages rounded to 2 decimals
  const readme = [9.13, 25.86, 0.56, 29.10, 8.72, 16.33, 0.89, 3.09, 1.75, 0.65, 2.22];
  stats.classes.forEach((share, id) => assert.ok(Math.abs(share.fraction * 100 - (readme[id] as number)) <= 0.0051, `${share.name}: ${share.fraction * 100}%`));
  assert.ok(Math.abs(stats.ignoreFraction * 100 - 1.71) <= 0.0051);
});
