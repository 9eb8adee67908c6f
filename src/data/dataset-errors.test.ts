import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { DatasetError } from '../errors.js';
import { openDataset } from './open-dataset.js';
import {
  fixtureImage, temporaryFolder, writeCamVidFixture, writeFolderFixture, writeImageFile, writeLabelFile, writeVocFixture,
} from './fixtures.js';
import { vocPalette } from './label-maps.js';

const folder = await temporaryFolder('contraseg-errors-');
after(() => folder.remove());
let counter = 0;

/** A fresh CamVid fixture with two train images; returns its root. */
async function camvid(): Promise<string> {
  const root = join(folder.path, `camvid-${counter++}`);
  await writeCamVidFixture(root, { train: [fixtureImage('a', 16, 12, [0, 1, 11]), fixtureImage('b', 16, 12, [2, 3], 1)] }, { listPrefix: '/SegNet/CamVid/' });
  return root;
}

/** Asserts a DatasetError whose file and message match. */
function datasetError(file: string, message: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof DatasetError, `expected a DatasetError, got ${String(error)}`);
    assert.equal(error.file, file);
    assert.match(error.message, message);
    assert.ok(error.message.startsWith(`${file}: `), 'the message names the file first');
    return true;
  };
}

test('missing mask for an image: DatasetError at open naming the mask path and its image', async () => {
  const root = await camvid();
  await rm(join(root, 'trainannot', 'b.png'));
  await assert.rejects(openDataset({ kind: 'camvid', root, split: 'train' }),
    datasetError(join(root, 'trainannot', 'b.png'), /missing mask for image .*train\/b\.png \(listed in .*train\.txt\)/));
});

test('image listed but absent: DatasetError naming the image', async () => {
  const root = await camvid();
  await rm(join(root, 'train', 'a.png'));
  await assert.rejects(openDataset({ kind: 'camvid', root, split: 'train' }), datasetError(join(root, 'train', 'a.png'), /image file not found/));
});

test('image and mask of different sizes: DatasetError naming the mask, both sizes and the fix', async () => {
  const root = await camvid();
  await writeLabelFile(join(root, 'trainannot', 'a.png'), new Uint8Array(15 * 12), 15, 12);
  const dataset = await openDataset({ kind: 'camvid', root, split: 'train' });
  await assert.rejects(dataset.get(0), datasetError(join(root, 'trainannot', 'a.png'), /mask is 15x12 \(WxH\) but its image .*a\.png is 16x12.*same size/));
  await dataset.get(1);
});

test('mask values outside the class range (other than ignore): DatasetError with value, position and expected range', async () => {
  const root = await camvid();
  const values = new Uint8Array(16 * 12).fill(3);
  values[2 * 16 + 5] = 12;
  await writeLabelFile(join(root, 'trainannot', 'b.png'), values, 16, 12);
  const dataset = await openDataset({ kind: 'camvid', root, split: 'train' });
  await assert.rejects(dataset.get(1), datasetError(join(root, 'trainannot', 'b.png'), /mask value 12 at \(x 5, y 2\) .*expected 0\.\.10 or 11 \(void\)/));
  // CamVid has no 255 in its files, but 255 is the universal ignore value and is accepted
  values[2 * 16 + 5] = 255;
  await writeLabelFile(join(root, 'trainannot', 'b.png'), values, 16, 12);
  assert.equal((await dataset.get(1)).mask[2 * 16 + 5], 255);
});

test('VOC: a palette index above 20 other than 255 is rejected', async () => {
  const root = join(folder.path, 'voc-bad');
  await writeVocFixture(root, { val: [fixtureImage('x', 8, 8, [0, 1])] });
  await writeLabelFile(join(root, 'SegmentationClass', 'x.png'), new Uint8Array(64).fill(21), 8, 8, vocPalette());
  const dataset = await openDataset({ kind: 'voc', root, split: 'val' });
  await assert.rejects(dataset.get(0), datasetError(join(root, 'SegmentationClass', 'x.png'), /mask value 21 .*expected 0\.\.20 or 255 \(boundary\)/));
});

test('truncated or unreadable image and mask files: DatasetError naming the file', async () => {
  const root = await camvid();
  const image = join(root, 'train', 'a.png');
  await truncate(image, (await readFile(image)).length - 40);
  const mask = join(root, 'trainannot', 'b.png');
  await truncate(mask, (await readFile(mask)).length - 20);
  const dataset = await openDataset({ kind: 'camvid', root, split: 'train' });
  await assert.rejects(dataset.get(0), datasetError(image, /cannot decode image .*truncated, corrupt or not an image/));
  await assert.rejects(dataset.get(1), datasetError(mask, /truncated PNG/));
  await writeFile(image, 'not an image at all');
  await assert.rejects(dataset.get(0), datasetError(image, /cannot decode image/));
});

test('truncated JPEG image: DatasetError naming it', async () => {
  const root = join(folder.path, 'jpeg');
  await writeCamVidFixture(root, { val: [fixtureImage('j', 64, 48, [0, 1, 2, 3])] }, { imageExtension: '.jpg' });
  const image = join(root, 'val', 'j.jpg');
  await truncate(image, Math.floor((await readFile(image)).length / 2));
  const dataset = await openDataset({ kind: 'camvid', root, split: 'val' });
  await assert.rejects(dataset.get(0), datasetError(image, /cannot decode image/));
});

test('colour (RGB) mask: DatasetError saying class ids are expected', async () => {
  const root = await camvid();
  const mask = join(root, 'trainannot', 'a.png');
  await sharp({ create: { width: 16, height: 12, channels: 3, background: { r: 128, g: 64, b: 128 } } }).png().toFile(mask);
  const dataset = await openDataset({ kind: 'camvid', root, split: 'train' });
  await assert.rejects(dataset.get(0), datasetError(mask, /mask is a colour image; expected a single-channel map of class ids/));
});

test('empty split, unknown split and malformed list line', async () => {
  const root = await camvid();
  await writeFile(join(root, 'val.txt'), '\n\n');
  await assert.rejects(openDataset({ kind: 'camvid', root, split: 'val' }), (error: unknown) =>
    error instanceof DatasetError && /camvid val .*the split is empty/.test(error.message));
  await assert.rejects(openDataset({ kind: 'camvid', root, split: 'nope' }), datasetError(root, /CamVid split "nope" not found/));
  await writeFile(join(root, 'train.txt'), '/SegNet/CamVid/train/a.png\n');
  await assert.rejects(openDataset({ kind: 'camvid', root, split: 'train' }), datasetError(join(root, 'train.txt'), /line 1: expected "image mask"/));
  await assert.rejects(openDataset({ kind: 'cityscapes', root, split: 'train' }), datasetError(root, /Cityscapes split "train" not found/));
  await assert.rejects(openDataset({ kind: 'voc', root, split: 'train' }), datasetError(root, /no JPEGImages\/ folder/));
});

test('folder layout: image without mask, bad classes.json, split id without image', async () => {
  const root = join(folder.path, 'folder-bad');
  await writeFolderFixture(root, [fixtureImage('p', 8, 8, [0, 1]), fixtureImage('q', 8, 8, [1, 0])], ['a', 'b'], { some: ['p', 'zz'] });
  await assert.rejects(openDataset({ kind: 'folder', root, split: 'some' }), datasetError(join(root, 'some.txt'), /id "zz" has no image/));
  await writeImageFile(join(root, 'images', 'r.png'), new Uint8Array(8 * 8 * 3), 8, 8);
  await assert.rejects(openDataset({ kind: 'folder', root }), datasetError(join(root, 'masks', 'r.png'), /missing mask for image/));
  await writeFile(join(root, 'classes.json'), JSON.stringify({ classes: [{ name: 'a', colour: [300, 0, 0] }] }));
  await assert.rejects(openDataset({ kind: 'folder', root }), datasetError(join(root, 'classes.json'), /invalid classes.json at classes\.0\.colour\.0/));
});
