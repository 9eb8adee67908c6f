/**
 * A small PNG codec for single-channel label maps: palette PNGs (VOC's SegmentationClass, whose pixel
 * values are palette indices = class ids) and 8-bit greyscale PNGs (CamVid, Cityscapes labelIds, SBD).
 * General decoders such as sharp expand palette PNGs to RGB, which loses the class ids; this one returns
 * the stored values. Supports bit depths 1, 2, 4 and 8, all five row filters, no interlacing.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import { DatasetError } from '../errors.js';

const SIGNATURE = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);
const GREY = 0;
const PALETTE = 3;

/** Stored values of a single-channel PNG. */
export interface PngValues {
  readonly width: number;
  readonly height: number;
  /** HxW stored values: palette indices or grey levels. */
  readonly values: Uint8Array;
  readonly colourType: 'palette' | 'grey';
  /** RGB triples of the PLTE chunk (empty for greyscale). */
  readonly palette: Uint8Array;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** True if the bytes start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((byte, i) => bytes[i] === byte);
}

interface Chunks {
  header: DataView;
  palette: Uint8Array;
  data: Uint8Array;
}

function readChunks(bytes: Uint8Array, file: string): Chunks {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data: Uint8Array[] = [];
  let header: DataView | undefined;
  let palette: Uint8Array = new Uint8Array(0);
  let offset = 8;
  for (;;) {
    if (offset + 12 > bytes.length) {
      throw new DatasetError('truncated PNG (no IEND chunk). Re-export or re-download the file.', file);
    }
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    if (offset + 12 + length > bytes.length) throw new DatasetError(`truncated PNG (chunk ${type} runs past the end). Re-export or re-download the file.`, file);
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    if (crc32(bytes.subarray(offset + 4, offset + 8 + length)) !== view.getUint32(offset + 8 + length)) {
      throw new DatasetError(`corrupt PNG (CRC mismatch in chunk ${type}). Re-export or re-download the file.`, file);
    }
    if (type === 'IHDR') header = new DataView(body.buffer, body.byteOffset, body.byteLength);
    else if (type === 'PLTE') palette = body;
    else if (type === 'IDAT') data.push(body);
    else if (type === 'IEND') break;
    offset += 12 + length;
  }
  if (header === undefined || header.byteLength < 13) throw new DatasetError('corrupt PNG (missing IHDR chunk).', file);
  return { header, palette, data: Buffer.concat(data) };
}

/** Reverses the PNG row filters in place (bytes per pixel = 1 for single-channel depths <= 8). */
function unfilter(raw: Uint8Array, stride: number, height: number, file: string): Uint8Array {
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    const source = y * (stride + 1) + 1;
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const left = x > 0 ? (out[row + x - 1] as number) : 0;
      const up = y > 0 ? (out[row - stride + x] as number) : 0;
      const upLeft = x > 0 && y > 0 ? (out[row - stride + x - 1] as number) : 0;
      let predictor: number;
      switch (filter) {
        case 0: predictor = 0; break;
        case 1: predictor = left; break;
        case 2: predictor = up; break;
        case 3: predictor = (left + up) >> 1; break;
        case 4: predictor = paeth(left, up, upLeft); break;
        default: throw new DatasetError(`corrupt PNG (unknown row filter ${filter} in row ${y}).`, file);
      }
      out[row + x] = ((raw[source + x] as number) + predictor) & 0xff;
    }
  }
  return out;
}

function paeth(left: number, up: number, upLeft: number): number {
  const estimate = left + up - upLeft;
  const distanceLeft = Math.abs(estimate - left);
  const distanceUp = Math.abs(estimate - up);
  const distanceUpLeft = Math.abs(estimate - upLeft);
  if (distanceLeft <= distanceUp && distanceLeft <= distanceUpLeft) return left;
  return distanceUp <= distanceUpLeft ? up : upLeft;
}

/**
 * Decodes the stored values of a palette or greyscale PNG (bit depth <= 8, not interlaced).
 * Returns null for other colour types (RGB, grey+alpha, RGBA), which are not label maps.
 * @throws DatasetError naming `file` if the PNG is truncated, corrupt, 16-bit or interlaced.
 */
export function decodePngValues(bytes: Uint8Array, file: string): PngValues | null {
  if (!isPng(bytes)) throw new DatasetError('not a PNG file (bad signature). Label maps must be PNG files.', file);
  const { header, palette, data } = readChunks(bytes, file);
  const width = header.getUint32(0);
  const height = header.getUint32(4);
  const bitDepth = header.getUint8(8);
  const colourType = header.getUint8(9);
  if (colourType !== GREY && colourType !== PALETTE) return null;
  if (bitDepth > 8) throw new DatasetError(`${bitDepth}-bit label PNG; expected 8-bit class ids. Convert it to 8-bit greyscale.`, file);
  if (![1, 2, 4, 8].includes(bitDepth)) throw new DatasetError(`corrupt PNG (bit depth ${bitDepth}; PNG allows 1, 2, 4, 8 or 16).`, file);
  if (header.getUint8(12) !== 0) throw new DatasetError('interlaced PNG label maps are not supported. Re-save the file without interlacing.', file);
  checkDimensions(width, height, file);
  const stride = Math.ceil((width * bitDepth) / 8);
  const expected = (stride + 1) * height;
  let raw: Uint8Array;
  try {
    // Bounded by what the header promises (plus one byte to see overflow): a few kilobytes of deflate can
    // expand to gigabytes, which must never be allocated.
    raw = inflateSync(data, { maxOutputLength: expected + 1 });
  } catch (error) {
    throw new DatasetError(`truncated or corrupt PNG image data (${(error as Error).message}). Re-export or re-download the file.`, file);
  }
  if (raw.length < expected) throw new DatasetError(`truncated PNG image data (${raw.length} of ${expected} bytes).`, file);
  const packed = unfilter(raw, stride, height, file);
  return { width, height, values: unpack(packed, width, height, bitDepth, stride), colourType: colourType === PALETTE ? 'palette' : 'grey', palette };
}

/**
 * The most pixels a label map may have: sharp's (libvips') default input limit for images, 0x3FFF^2
 * (268 Mpx), so that masks and images fail alike. A header may claim 2^32 x 2^32.
 */
export const MAX_LABEL_PIXELS = 0x3fff * 0x3fff;

function checkDimensions(width: number, height: number, file: string): void {
  if (width === 0 || height === 0) throw new DatasetError(`corrupt PNG (size ${width}x${height}; PNG images are at least 1x1).`, file);
  if (width * height > MAX_LABEL_PIXELS) {
    throw new DatasetError(`label PNG of ${width}x${height} pixels exceeds the limit of ${MAX_LABEL_PIXELS} pixels (a corrupt header, or downscale it).`, file);
  }
}

function unpack(packed: Uint8Array, width: number, height: number, bitDepth: number, stride: number): Uint8Array {
  if (bitDepth === 8) return packed;
  const values = new Uint8Array(width * height);
  const perByte = 8 / bitDepth;
  const mask = (1 << bitDepth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = packed[y * stride + Math.floor(x / perByte)] as number;
      const shift = 8 - bitDepth * ((x % perByte) + 1);
      values[y * width + x] = (byte >> shift) & mask;
    }
  }
  return values;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/**
 * Encodes an HxW uint8 label map as an 8-bit PNG: a palette PNG if `palette` (RGB triples, up to 256)
 * is given, else greyscale. The stored values are exactly `values`.
 */
export function encodePng(values: Uint8Array, width: number, height: number, palette?: Uint8Array): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;
  header[9] = palette === undefined ? GREY : PALETTE;
  const raw = new Uint8Array((width + 1) * height);
  for (let y = 0; y < height; y++) raw.set(values.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const chunks = [Buffer.from(SIGNATURE), chunk('IHDR', header)];
  if (palette !== undefined) chunks.push(chunk('PLTE', palette));
  chunks.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(chunks);
}
