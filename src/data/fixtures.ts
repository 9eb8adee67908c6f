/**
 * Test fixtures: tiny datasets written as real PNG/JPEG files in the exact on-disk layouts of CamVid,
 * VOC 2012 (palette PNG masks), Cityscapes and the generic folder. For tests and examples only.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { Rgb } from '../augment/geometric.js';
import { vocPalette } from './label-maps.js';
import { encodePng } from './png.js';

/** One fixture image: its id, size and the values stored in its mask file (before any label mapping). */
export interface FixtureImage {
  readonly id: string;
  readonly width: number;
  readonly height: number;
  /** HxW stored mask values. */
  readonly stored: Uint8Array;
}

/** A fresh temporary folder; call remove() when done. */
export async function temporaryFolder(prefix = 'contraseg-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** An HxW map of 4x4 blocks cycling through `values` (shifted by `offset` so images differ). */
export function blockLabels(width: number, height: number, values: readonly number[], offset = 0): Uint8Array {
  const labels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) labels[y * width + x] = values[(Math.floor(y / 4) * 5 + Math.floor(x / 4) + offset) % values.length] as number;
  }
  return labels;
}

/** A fixture image with block labels. */
export function fixtureImage(id: string, width: number, height: number, values: readonly number[], offset = 0): FixtureImage {
  return { id, width, height, stored: blockLabels(width, height, values, offset) };
}

/** The colour a fixture image uses for pixels whose stored label is `value`: distinct for every value. */
export function colourOf(value: number): Rgb {
  return [(value * 37 + 20) % 256, (value * 91 + 60) % 256, (value * 53 + 100) % 256];
}

/** The RGB image of a fixture: each pixel coloured by its stored label (HxWx3). */
export function fixturePixels(image: FixtureImage): Uint8Array {
  const rgb = new Uint8Array(image.width * image.height * 3);
  image.stored.forEach((value, i) => rgb.set(colourOf(value), i * 3));
  return rgb;
}

/** Writes an HxWx3 image; the format follows the extension (.png lossless, .jpg quality 95). */
export async function writeImageFile(file: string, rgb: Uint8Array, width: number, height: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const image = sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width, height, channels: 3 } });
  const extension = extname(file).toLowerCase();
  await (extension === '.jpg' || extension === '.jpeg' ? image.jpeg({ quality: 95 }) : image.png()).toFile(file);
}

/** Writes an 8-bit label PNG storing exactly `values` (palette PNG if a palette is given, else greyscale). */
export async function writeLabelFile(file: string, values: Uint8Array, width: number, height: number, palette?: Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, encodePng(values, width, height, palette));
}

async function writePair(imageFile: string, maskFile: string, image: FixtureImage, palette?: Uint8Array): Promise<void> {
  await writeImageFile(imageFile, fixturePixels(image), image.width, image.height);
  await writeLabelFile(maskFile, image.stored, image.width, image.height, palette);
}

/**
 * CamVid (SegNet layout): `<split>/<id><ext>`, `<split>annot/<id>.png` and `<split>.txt` with
 * "image mask" lines; `listPrefix` (e.g. "/SegNet/CamVid/") reproduces SegNet's absolute paths.
 */
export async function writeCamVidFixture(root: string, splits: Record<string, readonly FixtureImage[]>,
  options: { listPrefix?: string; imageExtension?: string } = {}): Promise<void> {
  const prefix = options.listPrefix ?? '';
  const extension = options.imageExtension ?? '.png';
  for (const [split, images] of Object.entries(splits)) {
    const lines: string[] = [];
    for (const image of images) {
      await writePair(join(root, split, `${image.id}${extension}`), join(root, `${split}annot`, `${image.id}.png`), image);
      lines.push(`${prefix}${split}/${image.id}${extension} ${prefix}${split}annot/${image.id}.png`);
    }
    await writeFile(join(root, `${split}.txt`), `${lines.join('\n')}\n`);
  }
}

/** Sizes of the tiny CamVid's test images: 37x29 and 41x27, which no output stride divides. */
const TINY_TEST_SIZES = [[37, 29], [41, 27]] as const;

/**
 * The tiny CamVid of the training and CLI tests: `train` images t0, t1, ... and `val` images v0, ... of
 * width x height (40x30 unless given) and up to two test images x0, x1 whose sizes no output stride divides;
 * every image holds blocks of classes 0, 3, 5, 8 and void, shifted by its index.
 */
export async function writeTinyCamVid(root: string, counts: { train?: number; val?: number; test?: 0 | 1 | 2; width?: number; height?: number } = {}): Promise<void> {
  const { train = 5, val = 1, test = 2, width = 40, height = 30 } = counts;
  const image = (id: string, offset: number, w = width, h = height): FixtureImage => fixtureImage(id, w, h, [0, 3, 5, 8, 11], offset);
  const splits: Record<string, FixtureImage[]> = {
    train: Array.from({ length: train }, (_, i) => image(`t${i}`, i)),
    val: Array.from({ length: val }, (_, i) => image(`v${i}`, 7 + i)),
  };
  if (test > 0) splits.test = TINY_TEST_SIZES.slice(0, test).map(([w, h], i) => image(`x${i}`, 2 + i, w, h));
  await writeCamVidFixture(root, splits);
}

/**
 * VOC 2012: `JPEGImages/<id>.jpg`, `SegmentationClass/<id>.png` (palette PNGs, VOC colour map) or, with
 * `aug`, `SegmentationClassAug/<id>.png` (greyscale), and `ImageSets/Segmentation/<split>.txt` (ids).
 */
export async function writeVocFixture(root: string, splits: Record<string, readonly FixtureImage[]>, options: { aug?: boolean } = {}): Promise<void> {
  const maskFolder = options.aug === true ? 'SegmentationClassAug' : 'SegmentationClass';
  const palette = options.aug === true ? undefined : vocPalette();
  await mkdir(join(root, 'ImageSets', 'Segmentation'), { recursive: true });
  for (const [split, images] of Object.entries(splits)) {
    for (const image of images) {
      await writePair(join(root, 'JPEGImages', `${image.id}.jpg`), join(root, maskFolder, `${image.id}.png`), image, palette);
    }
    await writeFile(join(root, 'ImageSets', 'Segmentation', `${split}.txt`), images.map((image) => `${image.id}\n`).join(''));
  }
}

/** Cityscapes: `leftImg8bit/<split>/<city>/<id>_leftImg8bit.png` and `gtFine/<split>/<city>/<id>_gtFine_labelIds.png`; the city is the id's first `_` field. */
export async function writeCityscapesFixture(root: string, splits: Record<string, readonly FixtureImage[]>): Promise<void> {
  for (const [split, images] of Object.entries(splits)) {
    for (const image of images) {
      const city = image.id.split('_')[0] as string;
      await writePair(join(root, 'leftImg8bit', split, city, `${image.id}_leftImg8bit.png`),
        join(root, 'gtFine', split, city, `${image.id}_gtFine_labelIds.png`), image);
    }
  }
}

/** Generic folder: `images/<id>.png`, `masks/<id>.png`, `classes.json` (the given JSON value) and `<split>.txt` files. */
export async function writeFolderFixture(root: string, images: readonly FixtureImage[], classes: unknown,
  splits: Record<string, readonly string[]> = {}): Promise<void> {
  for (const image of images) await writePair(join(root, 'images', `${image.id}.png`), join(root, 'masks', `${image.id}.png`), image);
  await writeFile(join(root, 'classes.json'), JSON.stringify(classes));
  for (const [split, ids] of Object.entries(splits)) await writeFile(join(root, `${split}.txt`), ids.map((id) => `${id}\n`).join(''));
}

/**
 * The real-data folder `<name>` under `../shared/data` beside the checkout (or $CONTRASEG_DATA), or
 * undefined when it is absent, so that tests can skip with a reason.
 */
export function sharedDataFolder(name: string): string | undefined {
  const base = process.env.CONTRASEG_DATA ?? fileURLToPath(new URL('../../../shared/data', import.meta.url));
  const path = join(base, name);
  return existsSync(join(path, 'README.md')) || existsSync(join(path, 'train.txt')) ? path : undefined;
}
