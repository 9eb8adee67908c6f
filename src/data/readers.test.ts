import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openDataset } from './open-dataset.js';
import {
  fixtureImage, fixturePixels, temporaryFolder, writeCamVidFixture, writeCityscapesFixture, writeFolderFixture, writeVocFixture,
  type FixtureImage,
} from './fixtures.js';
import type { SegmentationDataset } from './types.js';

const folder = await temporaryFolder('contraseg-readers-');
after(() => folder.remove());

/** Reads every sample and checks ids, sizes, masks (through `expected`, a hand-written table) and, for lossless images, pixels. */
async function checkSamples(dataset: SegmentationDataset, images: readonly FixtureImage[], expected: (stored: number) => number, lossless: boolean): Promise<void> {
  assert.deepEqual(dataset.ids, images.map((image) => image.id));
  assert.equal(dataset.length, images.length);
  assert.equal(dataset.ignoreIndex, 255);
  for (let i = 0; i < images.length; i++) {
    const sample = await dataset.get(i);
    const image = images[i] as FixtureImage;
    assert.equal(sample.id, image.id);
    assert.equal(sample.width, image.width);
    assert.equal(sample.height, image.height);
    assert.deepEqual(Array.from(sample.mask), Array.from(image.stored, expected), `mask of ${image.id}`);
    const pixels = fixturePixels(image);
    if (lossless) {
      assert.deepEqual(sample.image, pixels, `pixels of ${image.id}`);
    } else {
      // JPEG smears the sharp 4x4 blocks; the mean error stays far below that of unrelated images (~85)
      let error = 0;
      sample.image.forEach((value, k) => { error += Math.abs(value - (pixels[k] as number)); });
      assert.ok(error / pixels.length < 20, `mean error ${error / pixels.length} on ${image.id}`);
    }
  }
}

// Stored CamVid values 0..11; 11 is void.
const camvidValues = [0, 3, 5, 11, 10, 1, 8];
const camvidExpected = (stored: number): number => (stored === 11 ? 255 : stored);

test('CamVid (SegNet lists with /SegNet/CamVid/ prefixes): 11 classes, void 11 -> 255 pixel by pixel', async () => {
  const root = join(folder.path, 'camvid');
  const train = [fixtureImage('0001TP_006690', 20, 12, camvidValues), fixtureImage('0001TP_006720', 20, 12, camvidValues, 3)];
  const test = [fixtureImage('Seq05VD_f00000', 20, 12, camvidValues, 1)];
  await writeCamVidFixture(root, { train, test }, { listPrefix: '/SegNet/CamVid/' });
  const dataset = await openDataset({ kind: 'camvid', root, split: 'train' });
  assert.equal(dataset.numClasses, 11);
  assert.equal(dataset.classNames[10], 'Bicyclist');
  assert.deepEqual(dataset.colours[3], [128, 64, 128]);
  await checkSamples(dataset, train, camvidExpected, true);
  await checkSamples(await openDataset({ kind: 'camvid', root, split: 'test' }), test, camvidExpected, true);
  // without the list file the split folders are scanned
  await rm(join(root, 'train.txt'));
  await checkSamples(await openDataset({ kind: 'camvid', root, split: 'train' }), train, camvidExpected, true);
});

test('CamVid 180x240 variant: relative list paths and JPEG images', async () => {
  const root = join(folder.path, 'camvid-small');
  const val = [fixtureImage('0016E5_07959', 24, 16, camvidValues, 2)];
  await writeCamVidFixture(root, { val }, { imageExtension: '.jpg' });
  await checkSamples(await openDataset({ kind: 'camvid', root, split: 'val' }), val, camvidExpected, false);
});

test('VOC 2012: palette PNG masks read as class ids (not colours), 255 stays ignore; VOCdevkit root accepted', async () => {
  const root = join(folder.path, 'VOCdevkit', 'VOC2012');
  const values = [0, 1, 15, 20, 255, 7, 12];
  const train = [fixtureImage('2007_000032', 20, 16, values), fixtureImage('2007_000039', 16, 20, values, 4)];
  await writeVocFixture(root, { train });
  const dataset = await openDataset({ kind: 'voc', root: join(folder.path, 'VOCdevkit'), split: 'train' });
  assert.equal(dataset.numClasses, 21);
  assert.equal(dataset.classNames[15], 'person');
  assert.deepEqual(dataset.colours[1], [128, 0, 0]);
  assert.deepEqual(dataset.colours[15], [192, 128, 128]);
  await checkSamples(dataset, train, (stored) => stored, false);
});

test('VOC SBD-augmented layout: SegmentationClassAug greyscale masks for train_aug', async () => {
  const root = join(folder.path, 'voc-aug');
  const values = [0, 2, 19, 255, 11];
  const trainAug = [fixtureImage('2008_000002', 16, 12, values, 1)];
  await writeVocFixture(root, { train_aug: trainAug }, { aug: true });
  await checkSamples(await openDataset({ kind: 'voc', root, split: 'train_aug' }), trainAug, (stored) => stored, false);
});

test('Cityscapes: labelIds -> 19 train ids (7 -> 0, 26 -> 13, 33 -> 18), every other labelId -> 255', async () => {
  const root = join(folder.path, 'cityscapes');
  const labelIds = [0, 7, 8, 26, 33, 9, 255, 1, 24, 11, 23, 31, 4];
  // hand-written from cityscapesScripts labels.py
  const trainIds: Record<number, number> = { 0: 255, 7: 0, 8: 1, 26: 13, 33: 18, 9: 255, 255: 255, 1: 255, 24: 11, 11: 2, 23: 10, 31: 16, 4: 255 };
  const train = [fixtureImage('aachen_000000_000019', 20, 12, labelIds), fixtureImage('bremen_000001_000019', 20, 12, labelIds, 5)];
  await writeCityscapesFixture(root, { train });
  const dataset = await openDataset({ kind: 'cityscapes', root, split: 'train' });
  assert.equal(dataset.numClasses, 19);
  assert.equal(dataset.classNames[13], 'car');
  await checkSamples(dataset, train, (stored) => trainIds[stored] as number, true);
});

test('generic folder: classes.json as names or objects with colours, optional split file', async () => {
  const root = join(folder.path, 'folder');
  const images = [fixtureImage('a', 12, 8, [0, 1, 2, 255]), fixtureImage('b', 12, 8, [2, 1], 1), fixtureImage('c', 8, 12, [0, 255], 1)];
  await writeFolderFixture(root, images, { classes: [{ name: 'ground' }, { name: 'plant', colour: [0, 200, 0] }, { name: 'sky' }] }, { few: ['c', 'a'] });
  const all = await openDataset({ kind: 'folder', root });
  assert.deepEqual(all.classNames, ['ground', 'plant', 'sky']);
  assert.deepEqual(all.colours[1], [0, 200, 0]);
  await checkSamples(all, images, (stored) => stored, true);
  const few = await openDataset({ kind: 'folder', root, split: 'few' });
  await checkSamples(few, [images[2] as FixtureImage, images[0] as FixtureImage], (stored) => stored, true);
  await writeFile(join(root, 'classes.json'), JSON.stringify(['ground', 'plant', 'sky']));
  assert.deepEqual((await openDataset({ kind: 'folder', root })).classNames, ['ground', 'plant', 'sky']);
});
