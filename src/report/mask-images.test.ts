import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodePngValues } from '../data/png.js';
import { ConfigError, ShapeError } from '../errors.js';
import { blendOverlay, colourMaskPng, overlayPng, type ClassMask, type RgbColour } from './mask-images.js';

const COLOURS: RgbColour[] = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];
/** 2 rows x 3 columns; the top-right pixel is ignore. */
const MASK: ClassMask = { width: 3, height: 2, classIds: Uint8Array.from([0, 1, 255, 2, 0, 1]) };
const IMAGE = Uint8Array.from([
  101, 50, 0, /**/ 10, 21, 30, /**/ 7, 8, 9,
  200, 100, 51, /**/ 255, 0, 0, /**/ 0, 1, 0,
]);

async function decodeRgb(png: Buffer): Promise<number[][]> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [3, 2, 3]);
  return Array.from({ length: 6 }, (_, pixel) => Array.from(data.subarray(pixel * 3, pixel * 3 + 3)));
}

test('colourMaskPng: a palette PNG storing the class ids, drawn in the class colours, ignore black', async () => {
  const png = colourMaskPng(MASK, COLOURS);
  const stored = decodePngValues(png, 'mask.png');
  assert.ok(stored !== null);
  assert.equal(stored.colourType, 'palette');
  assert.deepEqual(Array.from(stored.values), [0, 1, 255, 2, 0, 1]);
  assert.deepEqual(await decodeRgb(png), [[255, 0, 0], [0, 255, 0], [0, 0, 0], [0, 0, 255], [255, 0, 0], [0, 255, 0]]);
});

test('blendOverlay at the default opacity 0.5: hand-computed pixels, ignore shows the image', () => {
  assert.deepEqual(Array.from(blendOverlay(IMAGE, MASK, COLOURS)), [
    178, 25, 0, /* (101+255)/2, 50/2, 0 */ 5, 138, 15, /* 10/2, (21+255)/2, 30/2 */ 7, 8, 9, /* ignore */
    100, 50, 153, /* 200/2, 100/2, (51+255)/2 */ 255, 0, 0, /* red on red */ 0, 128, 0, /* (1+255)/2 */
  ]);
});

test('blendOverlay: opacity 0 is the image, opacity 1 the colours (ignore still the image); inputs untouched', () => {
  const before = Uint8Array.from(IMAGE);
  assert.deepEqual(blendOverlay(IMAGE, MASK, COLOURS, 0), IMAGE);
  assert.deepEqual(Array.from(blendOverlay(IMAGE, MASK, COLOURS, 1)), [
    255, 0, 0, 0, 255, 0, 7, 8, 9,
    0, 0, 255, 255, 0, 0, 0, 255, 0,
  ]);
  assert.deepEqual(IMAGE, before);
});

test('overlayPng: an RGB PNG of the blended pixels', async () => {
  const png = await overlayPng(IMAGE, MASK, COLOURS, 0.5);
  assert.equal(decodePngValues(png, 'overlay.png'), null, 'an RGB PNG, not a label map');
  assert.deepEqual(await decodeRgb(png), [[178, 25, 0], [5, 138, 15], [7, 8, 9], [100, 50, 153], [255, 0, 0], [0, 128, 0]]);
});

test('a class id without a colour, wrong sizes and a bad opacity are rejected with what to fix', () => {
  assert.throws(() => colourMaskPng(MASK, COLOURS.slice(0, 2)),
    (error: unknown) => error instanceof ConfigError && /class id 2 but only 2 colours were given \(ids 0\.\.1, 255 = ignore\)/.test(error.message));
  assert.throws(() => colourMaskPng({ ...MASK, width: 2 }, COLOURS),
    (error: unknown) => error instanceof ShapeError && /mask of 2x2 needs 4 class ids, got 6/.test(error.message));
  assert.throws(() => blendOverlay(IMAGE.subarray(0, 12), MASK, COLOURS),
    (error: unknown) => error instanceof ShapeError && /must be HxWx3 = 18 bytes, got 12/.test(error.message));
  assert.throws(() => blendOverlay(IMAGE, MASK, COLOURS, 1.5),
    (error: unknown) => error instanceof ConfigError && /opacity must be in \[0, 1\], got 1\.5/.test(error.message));
  assert.throws(() => blendOverlay(IMAGE, MASK, COLOURS, Number.NaN), ConfigError);
});
