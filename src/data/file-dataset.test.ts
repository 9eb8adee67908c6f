// FileDataset.get with an index that names no sample: a ConfigError naming the dataset and its range.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { fixtureImage, temporaryFolder, writeCamVidFixture } from './fixtures.js';
import { openDataset } from './open-dataset.js';

const folder = await temporaryFolder('contraseg-file-dataset-');
after(() => folder.remove());

test('an index outside the dataset is a ConfigError naming the range', async () => {
  const root = join(folder.path, 'camvid');
  await writeCamVidFixture(root, { train: [fixtureImage('a', 8, 8, [0, 1]), fixtureImage('b', 8, 8, [0, 1])] });
  const dataset = await openDataset({ kind: 'camvid', root, split: 'train' });
  for (const index of [2, -1, 0.5]) {
    await assert.rejects(dataset.get(index), (error: unknown) => error instanceof ConfigError &&
      new RegExp(`camvid train .*: sample index ${index} is outside 0\\.\\.1 \\(2 images\\)`).test(error.message), String(index));
  }
  assert.equal((await dataset.get(1)).id, 'b');
});
