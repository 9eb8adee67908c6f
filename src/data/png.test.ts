import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import sharp from 'sharp';
import { decodePngValues, encodePng } from './png.js';
import { vocPalette } from './label-maps.js';
import { DatasetError } from '../errors.js';

const WIDTH = 23;
const HEIGHT = 17;
/** Smooth blobs plus noise, so sharp's adaptive filtering picks several filter types. */
function pattern(levels: number): Uint8Array {
  const values = new Uint8Array(WIDTH * HEIGHT);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) values[y * WIDTH + x] = (Math.floor(x / 5) + Math.floor(y / 4) * 3 + ((x * y) % 7 === 0 ? 1 : 0)) % levels;
  }
  return values;
}

async function sharpRgb(png: Buffer): Promise<Uint8Array> {
  const { data, info } = await sharp(png).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return data;
}

test('encodePng palette output: sharp (libspng) decodes every pixel to palette[index]', async () => {
  const values = pattern(21);
  const palette = vocPalette();
  const png = encodePng(values, WIDTH, HEIGHT, palette);
  const rgb = await sharpRgb(png);
  for (let i = 0; i < values.length; i++) {
    const index = values[i] as number;
    assert.deepEqual(Array.from(rgb.subarray(i * 3, i * 3 + 3)), Array.from(palette.subarray(index * 3, index * 3 + 3)), `pixel ${i}`);
  }
  const decoded = decodePngValues(png, 'x.png');
  assert.ok(decoded !== null);
  assert.equal(decoded.colourType, 'palette');
  assert.deepEqual(decoded.values, values);
});

for (const bitdepth of [8, 4, 2, 1] as const) {
  test(`decodePngValues reads ${bitdepth}-bit palette PNGs written by sharp (palette lookup equals sharp's RGB)`, async () => {
    const levels = 2 ** bitdepth;
    const greys = pattern(Math.min(levels, 16)).map((v) => v * 16);
    const png = await sharp(Buffer.from(greys), { raw: { width: WIDTH, height: HEIGHT, channels: 1 } })
      .png({ palette: true, colours: levels, dither: 0, compressionLevel: 9 }).toBuffer();
    assert.equal(png[24], bitdepth, 'IHDR bit depth');
    const decoded = decodePngValues(png, 'sharp.png');
    assert.ok(decoded !== null);
    assert.equal(decoded.colourType, 'palette');
    const rgb = await sharpRgb(png);
    for (let i = 0; i < WIDTH * HEIGHT; i++) {
      const index = decoded.values[i] as number;
      assert.deepEqual(Array.from(decoded.palette.subarray(index * 3, index * 3 + 3)), Array.from(rgb.subarray(i * 3, i * 3 + 3)), `pixel ${i}`);
    }
  });
}

/** Row filter types used in a single-channel 8-bit PNG (to prove the test covers all five). */
function rowFilters(png: Buffer, width: number, height: number): Set<number> {
  const parts: Buffer[] = [];
  for (let offset = 8; offset < png.length;) {
    const length = png.readUInt32BE(offset);
    if (png.toString('latin1', offset + 4, offset + 8) === 'IDAT') parts.push(png.subarray(offset + 8, offset + 8 + length));
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(parts));
  return new Set(Array.from({ length: height }, (_, y) => raw[y * (width + 1)] as number));
}

test('decodePngValues reads greyscale PNGs written by sharp exactly, through all five row filters', async () => {
  const width = 64;
  const height = 48;
  const values = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      values[y * width + x] = y < 16 ? (x * 3) & 255 : y < 32 ? (y * 5) & 255 : ((x * y) % 11) * 20;
    }
  }
  const used = new Set<number>();
  for (const adaptiveFiltering of [false, true]) {
    for (const input of [values, pattern(12)]) {
      const [w, h] = input === values ? [width, height] : [WIDTH, HEIGHT];
      const png = await sharp(Buffer.from(input), { raw: { width: w, height: h, channels: 1 } })
        .png({ adaptiveFiltering, compressionLevel: 6 }).toColourspace('b-w').toBuffer();
      for (const filter of rowFilters(png, w, h)) used.add(filter);
      const decoded = decodePngValues(png, 'grey.png');
      assert.ok(decoded !== null);
      assert.equal(decoded.colourType, 'grey');
      assert.deepEqual(decoded.values, input);
    }
  }
  assert.deepEqual([...used].sort(), [0, 1, 2, 3, 4]);
  assert.deepEqual(decodePngValues(encodePng(values, width, height), 'mine.png')?.values, values);
});

test('RGB PNGs are not label maps (null); truncated, corrupt and non-PNG files raise DatasetError naming the file', async () => {
  const rgb = await sharp({ create: { width: 4, height: 3, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
  assert.equal(decodePngValues(rgb, 'rgb.png'), null);
  const png = encodePng(pattern(5), WIDTH, HEIGHT, vocPalette());
  const isDatasetError = (pattern: RegExp) => (error: unknown) =>
    error instanceof DatasetError && error.file === 'bad.png' && pattern.test(error.message);
  assert.throws(() => decodePngValues(png.subarray(0, png.length - 30), 'bad.png'), isDatasetError(/^bad\.png: truncated PNG/));
  const flipped = Buffer.from(png);
  flipped[60] = (flipped[60] as number) ^ 0xff;
  assert.throws(() => decodePngValues(flipped, 'bad.png'), isDatasetError(/corrupt PNG \(CRC mismatch/));
  assert.throws(() => decodePngValues(Buffer.from('hello world, not a png'), 'bad.png'), isDatasetError(/not a PNG file/));
});
