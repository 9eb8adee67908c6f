import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, DatasetError } from '../errors.js';
import { fixtureImage, temporaryFolder, writeCamVidFixture } from './fixtures.js';
import { openDataset } from './open-dataset.js';
import { chooseLabelled, readSplitFile, splitOrder, subsetDataset, writeSplitFile } from './splits.js';

const ids = Array.from({ length: 60 }, (_, i) => `img_${String(i).padStart(3, '0')}`);
const folder = await temporaryFolder('contraseg-splits-');
after(() => folder.remove());

test('same seed and K give the same split; the listing order does not matter', () => {
  const first = chooseLabelled(ids, 7, { count: 10 });
  assert.deepEqual(chooseLabelled(ids, 7, { count: 10 }), first);
  assert.deepEqual(chooseLabelled([...ids].reverse(), 7, { count: 10 }), first);
  assert.equal(new Set(first).size, 10);
  assert.ok(first.every((id) => ids.includes(id)));
  assert.notDeepEqual(chooseLabelled(ids, 8, { count: 10 }), first);
});

test('splits are nested: for one seed a smaller K is a prefix (so a subset) of a larger K', () => {
  for (const seed of [0, 1, 123]) {
    let previous: string[] = [];
    for (const count of [1, 2, 5, 10, 20, 40, 60]) {
      const split = chooseLabelled(ids, seed, { count });
      assert.deepEqual(split.slice(0, previous.length), previous);
      previous = split;
    }
    assert.deepEqual([...previous].sort(), [...ids].sort());
    assert.deepEqual(previous, splitOrder(ids, seed));
  }
});

test('fractions round to a count of at least 1', () => {
  assert.equal(chooseLabelled(ids, 0, { fraction: 0.25 }).length, 15);
  assert.equal(chooseLabelled(ids, 0, { fraction: 0.001 }).length, 1);
  assert.deepEqual(chooseLabelled(ids, 0, { fraction: 0.25 }), chooseLabelled(ids, 0, { count: 15 }));
});

test('K larger than the dataset, bad K, empty or duplicate ids raise errors that say what to do', () => {
  assert.throws(() => chooseLabelled(ids, 0, { count: 61 }), (error: unknown) =>
    error instanceof DatasetError && /asked for 61 labelled images but the dataset has only 60\. Use a count of at most 60/.test(error.message));
  assert.throws(() => chooseLabelled(ids, 0, { count: 0 }), ConfigError);
  assert.throws(() => chooseLabelled(ids, 0, { fraction: 1.5 }), ConfigError);
  assert.throws(() => chooseLabelled([], 0, { count: 1 }), DatasetError);
  assert.throws(() => chooseLabelled(['a', 'a'], 0, { count: 1 }), /duplicate sample id "a"/);
});

test('split files round-trip; bad files name themselves', async () => {
  const file = join(folder.path, 'k10.txt');
  const split = chooseLabelled(ids, 3, { count: 10 });
  await writeSplitFile(file, split);
  assert.equal(await readFile(file, 'utf8'), `${split.join('\n')}\n`);
  assert.deepEqual(await readSplitFile(file), split);
  const empty = join(folder.path, 'empty.txt');
  await writeSplitFile(empty, []);
  await assert.rejects(readSplitFile(empty), (error: unknown) => error instanceof DatasetError && error.file === empty && /split file is empty/.test(error.message));
  await assert.rejects(readSplitFile(join(folder.path, 'absent.txt')), /absent\.txt: cannot read split file \(ENOENT\)/);
  const twice = join(folder.path, 'twice.txt');
  await writeSplitFile(twice, ['a', 'b', 'a']);
  await assert.rejects(readSplitFile(twice), /id "a" is listed twice/);
});

test('subsetDataset keeps the split order and stays file-backed; unknown ids name the split file', async () => {
  const root = join(folder.path, 'camvid');
  const images = ['a', 'b', 'c', 'd'].map((id, i) => fixtureImage(id, 8, 8, [0, 1, 2], i));
  await writeCamVidFixture(root, { train: images });
  const dataset = await openDataset({ kind: 'camvid', root, split: 'train' });
  const subset = subsetDataset(dataset, ['c', 'a']);
  assert.deepEqual(subset.ids, ['c', 'a']);
  assert.equal(subset.length, 2);
  assert.equal((await subset.get(0)).id, 'c');
  assert.ok(subset.descriptor !== undefined);
  assert.throws(() => subsetDataset(dataset, ['a', 'zz'], 'k2.txt'), (error: unknown) =>
    error instanceof DatasetError && error.file === 'k2.txt' && /id "zz" is not in camvid train/.test(error.message));
});
