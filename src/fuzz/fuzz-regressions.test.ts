// Regression tests for the file readers' fixes made while writing the fuzz targets (src/fuzz/targets.ts):
// each input here used to end in an untyped error (TypeError, RangeError, a raw sharp Error) or in an
// allocation as large as a header claimed; now each is a typed error naming the file.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { CheckpointError, DatasetError } from '../errors.js';
import { decodeSafetensors, encodeSafetensors } from '../torch/safetensors.js';
import { liveTensorCount, scope } from '../torch/scope.js';
import { tensor } from '../torch/creation.js';
import { decodePngValues, encodePng, MAX_LABEL_PIXELS } from '../data/png.js';
import { decodeLabelValues } from '../data/image-io.js';
import { buildPng, buildSafetensors, parsePng, parseSafetensors } from './mutate.js';

const temp = mkdtempSync(join(tmpdir(), 'contraseg-fuzz-regressions-'));
after(() => rmSync(temp, { recursive: true, force: true }));

const seed = (): Uint8Array => scope(() => encodeSafetensors(new Map([['w', tensor([1, 2, 3, 4], [2, 2])]])));
const rejectsHeader = (header: unknown, message: RegExp, data = parseSafetensors(seed()).data): void => {
  const before = liveTensorCount();
  assert.throws(() => decodeSafetensors(buildSafetensors(header, data), 'w.safetensors'), (error: unknown) => {
    assert.ok(error instanceof CheckpointError, `expected CheckpointError, got ${String(error)}`);
    assert.match(error.message, /^w\.safetensors: /);
    assert.match(error.message, message);
    return true;
  });
  assert.equal(liveTensorCount(), before);
};

describe('safetensors headers that used to throw TypeError or RangeError', () => {
  it('a header that is not an object (null, a number, an array)', () => {
    for (const header of [null, 5, [1]]) rejectsHeader(header, /header is (null|a number|an array), expected a JSON object of tensor entries/);
  });
  it('an entry that is not an object, or lacks dtype, shape or offsets', () => {
    rejectsHeader({ w: null }, /tensor 'w': header entry is null/);
    rejectsHeader({ w: { dtype: 'F32', data_offsets: [0, 16] } }, /tensor 'w': shape undefined is not a list of non-negative integers/);
    rejectsHeader({ w: { dtype: 'F32', shape: [2, 2] } }, /tensor 'w': data_offsets undefined is not \[begin, end\]/);
    rejectsHeader({ w: { dtype: 7, shape: [2, 2], data_offsets: [0, 16] } }, /tensor 'w': dtype is a number/);
  });
  it('negative or fractional dimensions whose product matches the offsets (new Uint8Array(-4) before)', () => {
    rejectsHeader({ w: { dtype: 'F32', shape: [-1, -4], data_offsets: [0, 16] } }, /shape \[-1,-4\] is not a list of non-negative integers/);
    rejectsHeader({ w: { dtype: 'F32', shape: [-1], data_offsets: [4, 0] } }, /shape \[-1\] is not a list/);
    rejectsHeader({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [16, 0] } }, /data_offsets \[16,0\] is not \[begin, end\] of integers with 0 <= begin <= end/);
    rejectsHeader({ w: { dtype: 'F32', shape: [0.5, 8], data_offsets: [0, 16] } }, /shape \[0\.5,8\] is not a list/);
  });
  it('__metadata__ that is not an object of strings', () => {
    rejectsHeader({ __metadata__: { a: 5 }, w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } }, /__metadata__ must be an object of string values/);
  });
  it('a tensor claiming 2^40 x 2^12 floats (16 PiB) with matching offsets is refused without allocating it', () => {
    const rss = process.memoryUsage.rss();
    const bytes = 2 ** 52 * 4; // beyond 2^53 in total: the check runs in BigInt
    rejectsHeader({ w: { dtype: 'F32', shape: [2 ** 40, 2 ** 12], data_offsets: [0, bytes] } }, /data_offsets \[0,18014398509481984\] is not \[begin, end\] of integers .* < 2\^53/);
    rejectsHeader({ w: { dtype: 'F32', shape: [2 ** 38], data_offsets: [0, 2 ** 40] } }, /1099511627776 bytes of F32; the file has 16 data bytes/);
    assert.ok(process.memoryUsage.rss() - rss < 64 * 2 ** 20, 'resident memory grew while refusing the header');
  });
});

function greyPng(width: number, height: number, edit: (header: DataView) => void, idat?: Uint8Array): Uint8Array {
  const chunks = parsePng(encodePng(new Uint8Array(width * height), width, height));
  const header = chunks.find((chunk) => chunk.type === 'IHDR')!;
  edit(new DataView(header.body.buffer, header.body.byteOffset, header.body.byteLength));
  if (idat !== undefined) chunks.find((chunk) => chunk.type === 'IDAT')!.body = idat;
  return buildPng(chunks);
}

const rejectsPng = (bytes: Uint8Array, message: RegExp): void => {
  assert.throws(() => decodePngValues(bytes, 'mask.png'), (error: unknown) =>
    error instanceof DatasetError && error.file === 'mask.png' && message.test(error.message));
};

describe('label PNGs with valid CRCs but impossible headers', () => {
  it('a deflate bomb (64 MiB of zeros behind a 1x1 header) is inflated only as far as the header allows', () => {
    const rss = process.memoryUsage.rss();
    rejectsPng(greyPng(1, 1, () => undefined, deflateSync(Buffer.alloc(64 << 20))), /truncated or corrupt PNG image data/);
    assert.ok(process.memoryUsage.rss() - rss < 32 * 2 ** 20, 'the bomb was inflated');
  });
  it('a size past the pixel limit, a zero size, and a bit depth PNG does not have', () => {
    rejectsPng(greyPng(4, 4, (header) => { header.setUint32(0, 65535); header.setUint32(4, 65535); }),
      new RegExp(`65535x65535 pixels exceeds the limit of ${MAX_LABEL_PIXELS} pixels`));
    rejectsPng(greyPng(4, 4, (header) => header.setUint32(0, 0)), /size 0x4; PNG images are at least 1x1/);
    rejectsPng(greyPng(4, 4, (header) => header.setUint8(8, 3)), /bit depth 3; PNG allows 1, 2, 4, 8 or 16/);
    rejectsPng(greyPng(4, 4, (header) => header.setUint8(8, 0)), /bit depth 0/);
  });
});

describe('non-PNG masks', () => {
  it('a greyscale JPEG cut inside its scan is a DatasetError (sharp\'s own Error escaped before: metadata() reads only the header)', async () => {
    const values = Buffer.from(Uint8Array.from({ length: 64 * 64 }, (_, i) => i % 13));
    const jpeg = await sharp(values, { raw: { width: 64, height: 64, channels: 1 } }).toColourspace('b-w').jpeg().toBuffer();
    const file = join(temp, 'cut.jpg');
    writeFileSync(file, jpeg.subarray(0, Math.floor(jpeg.length * 0.6)));
    await assert.rejects(decodeLabelValues(file), (error: unknown) =>
      error instanceof DatasetError && error.file === file && /cannot decode mask \(VipsJpeg: premature end of JPEG image/.test(error.message));
  });
});
