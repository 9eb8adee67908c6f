import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { truncate, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_DISTORTIONS, NO_DISTORTIONS, type DistortionOptions } from '../augment/photometric.js';
import { DatasetError, ConfigError } from '../errors.js';
import { liveTensorCount } from '../torch/scope.js';
import { IMAGENET_MEAN, IMAGENET_STD } from './batch.js';
import { colourOf, fixtureImage, temporaryFolder, writeCamVidFixture } from './fixtures.js';
import { createLoader, type Batch, type PairBatch } from './loader.js';
import { openDataset } from './open-dataset.js';

const folder = await temporaryFolder('contraseg-loader-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
const values = [0, 3, 5, 11, 8, 1];
await writeCamVidFixture(root, { train: Array.from({ length: 10 }, (_, i) => fixtureImage(`f${i}`, 40, 28, values, i)) });
const dataset = await openDataset({ kind: 'camvid', root, split: 'train' });
const augment = { scale: [0.7, 1.6] as const, crop: { width: 24, height: 20 }, flipProbability: 0.5 };
const GREYSCALE_ONLY: DistortionOptions = { ...NO_DISTORTIONS, grayscale: { probability: 1 } };

/** Every batch of an epoch as plain arrays (tensors disposed). */
async function collect(workers: number, epoch: number, distortions: DistortionOptions = DEFAULT_DISTORTIONS) {
  const loader = createLoader(dataset, { batchSize: 4, seed: 11, augment, views: { kind: 'pair', distortions }, workers });
  const batches: { ids: readonly string[]; images: number[]; distorted: number[]; labels: number[]; shapes: number[][]; dtypes: string[] }[] = [];
  try {
    for await (const batch of loader.epoch(epoch)) {
      batches.push({
        ids: batch.ids, images: batch.images.toArray(), distorted: batch.distorted.toArray(), labels: batch.labels.toArray(),
        shapes: [batch.images.shape, batch.distorted.shape, batch.labels.shape], dtypes: [batch.images.dtype, batch.distorted.dtype, batch.labels.dtype],
      });
      batch.dispose();
    }
  } finally {
    await loader.dispose();
  }
  return batches;
}

test('pair batches: NCHW float32 views, int64 labels; 10 images, batch 4, drop last -> 2 batches', async () => {
  const batches = await collect(1, 0);
  assert.equal(batches.length, 2);
  for (const batch of batches) {
    assert.deepEqual(batch.shapes, [[4, 3, 20, 24], [4, 3, 20, 24], [4, 20, 24]]);
    assert.deepEqual(batch.dtypes, ['float32', 'float32', 'int64']);
    assert.ok(batch.labels.every((label) => label === 255 || [0, 3, 5, 8, 1].includes(label)));
  }
});

test('deterministic for a seed whatever the worker count (0, 1, 3); epochs differ', async () => {
  const inline = await collect(0, 1);
  assert.deepEqual(await collect(1, 1), inline);
  assert.deepEqual(await collect(3, 1), inline);
  const other = await collect(3, 2);
  assert.notDeepEqual(other.map((batch) => batch.ids), inline.map((batch) => batch.ids));
});

function denormalise(values: number[], b: number, c: number, p: number, pixels: number): number {
  return ((values[(b * 3 + c) * pixels + p] as number) * (IMAGENET_STD[c] as number) + (IMAGENET_MEAN[c] as number)) * 255;
}

test('both views share geometry and labels: with grayscale-only distortion, Î is the luma of I pixel by pixel', async () => {
  const pixels = 20 * 24;
  for (const batch of await collect(2, 0, GREYSCALE_ONLY)) {
    for (let b = 0; b < 4; b++) {
      for (let p = 0; p < pixels; p++) {
        const [r, g, bl] = [0, 1, 2].map((c) => denormalise(batch.images, b, c, p, pixels) / 255) as [number, number, number];
        const luma = 0.2989 * r + 0.587 * g + 0.114 * bl;
        for (let c = 0; c < 3; c++) assert.ok(Math.abs(denormalise(batch.distorted, b, c, p, pixels) / 255 - luma) < 1e-4);
      }
    }
  }
  const identical = await collect(2, 0, NO_DISTORTIONS);
  for (const batch of identical) assert.deepEqual(batch.distorted, batch.images);
});

test('labels stay aligned with image content through the workers (fixture colours encode classes)', async () => {
  const pixels = 20 * 24;
  let checked = 0;
  for (const batch of await collect(2, 3, NO_DISTORTIONS)) {
    for (let b = 0; b < 4; b++) {
      for (let y = 1; y < 19; y++) {
        for (let x = 1; x < 23; x++) {
          const label = batch.labels[b * pixels + y * 24 + x] as number;
          let uniform = true;
          for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) uniform &&= batch.labels[b * pixels + (y + dy) * 24 + x + dx] === label;
          if (!uniform || label === 255) continue;
          const colour = colourOf(label);
          for (let c = 0; c < 3; c++) assert.ok(Math.abs(denormalise(batch.images, b, c, y * 24 + x, pixels) - (colour[c] as number)) < 1.5);
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 500, `only ${checked} pixels checked`);
});

test('evaluation loader: no augmentation, in order, keeps the last partial batch; batches free their tensors', async () => {
  const loader = createLoader(dataset, { batchSize: 4, seed: 0, augment: null, views: { kind: 'single' }, shuffle: false, workers: 1 });
  assert.equal(loader.batchesPerEpoch, 3);
  const before = liveTensorCount();
  const seen: string[] = [];
  for await (const batch of loader.epoch(0)) {
    const typed: Batch = batch;
    assert.equal(typed.images.shape[2], 28);
    assert.equal(liveTensorCount(), before + 2);
    seen.push(...batch.ids);
    if (seen.length === 4) {
      const sample = await dataset.get(0);
      const images = batch.images.toArray();
      assert.ok(Math.abs(denormalise(images, 0, 1, 7, 28 * 40) - (sample.image[7 * 3 + 1] as number)) < 1e-3);
      assert.deepEqual(batch.labels.toArray().slice(0, 28 * 40), Array.from(sample.mask));
    }
    batch.dispose();
    assert.equal(liveTensorCount(), before);
  }
  assert.deepEqual(seen, dataset.ids);
  await loader.dispose();
});

test('a bad file in a worker surfaces as the same DatasetError naming the file', async () => {
  const badRoot = join(folder.path, 'bad');
  await writeCamVidFixture(badRoot, { train: [fixtureImage('ok', 16, 16, values), fixtureImage('broken', 16, 16, values)] });
  const broken = join(badRoot, 'train', 'broken.png');
  await truncate(broken, (await readFile(broken)).length - 30);
  const bad = await openDataset({ kind: 'camvid', root: badRoot, split: 'train' });
  const loader = createLoader(bad, { batchSize: 2, seed: 0, augment, views: { kind: 'single' }, workers: 1 });
  await assert.rejects(async () => { for await (const batch of loader.epoch(0)) batch.dispose(); }, (error: unknown) =>
    error instanceof DatasetError && error.file === broken && error.message.startsWith(`${broken}: cannot decode image`));
  await loader.dispose();
});

test('bad loader options raise ConfigError', () => {
  assert.throws(() => createLoader(dataset, { batchSize: 0, seed: 0, augment, views: { kind: 'single' } }), /loader batchSize: expected an integer >= 1, got 0/);
  assert.throws(() => createLoader(dataset, { batchSize: 11, seed: 0, augment, views: { kind: 'single' } }), (error: unknown) =>
    error instanceof ConfigError && /larger than camvid train .*\(10 images\)/.test(error.message));
  assert.throws(() => createLoader(dataset, { batchSize: 2, seed: 0, augment: { ...augment, scale: [0, 1] }, views: { kind: 'single' } }), /augmentation scale/);
});

test('a loader that is never disposed does not keep the process alive', async () => {
  const script = join(folder.path, 'forgotten.mts');
  const loaderUrl = new URL('./loader.ts', import.meta.url).href;
  const openUrl = new URL('./open-dataset.ts', import.meta.url).href;
  await writeFile(script, `import { createLoader } from ${JSON.stringify(loaderUrl)};
import { openDataset } from ${JSON.stringify(openUrl)};
const dataset = await openDataset({ kind: 'camvid', root: ${JSON.stringify(root)}, split: 'train' });
const loader = createLoader(dataset, { batchSize: 2, seed: 0, augment: null, views: { kind: 'single' }, workers: 2 });
for await (const batch of loader.epoch(0)) { batch.dispose(); break; }
console.log('done');
`);
  const repo = fileURLToPath(new URL('../..', import.meta.url));
  const result = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: repo, timeout: 30_000, encoding: 'utf8' });
  assert.equal(result.signal, null, `the process hung (killed by ${result.signal}); stderr: ${result.stderr}`);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /done/);
});
