/**
 * `POST /segment` of `contraseg serve`: the uploaded bytes are checked and decoded here (so a bad image is
 * a 400 before the model sees it), segmented one request at a time through the one model session, and
 * answered as a mask PNG or JSON.
 */
import sharp from 'sharp';
import { encodePng } from '../data/png.js';
import { HttpError } from './server-http.js';

/** An RGB image: `data` is HxWx3 uint8, row-major, channels interleaved. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** What the server needs of a segmentation (the shape of `Segmenter.segment`'s result in segmenter.ts). */
export interface MaskResult {
  /** HxW class ids, row-major. */
  readonly mask: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly classNames: readonly string[];
  readonly colours: readonly (readonly number[])[];
}

/** What the server needs of a model: segmenter.ts's `Segmenter` satisfies it. */
export interface ImageSegmenter {
  segment(image: RgbImage): Promise<MaskResult> | MaskResult;
}

/** Response formats of `/segment`. */
export type SegmentFormat =
  | { readonly kind: 'json' }
  | { readonly kind: 'png'; readonly mask: 'colour' | 'ids' };

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** application/x-www-form-urlencoded is what `curl --data-binary` sends unless told otherwise; the bytes are checked anyway. */
const ACCEPTED_TYPES = ['image/png', 'image/jpeg', 'application/octet-stream', 'application/x-www-form-urlencoded'];

/**
 * Reads `?format=png|json` (default png) and, for png, `&mask=colour|ids` (default colour: a palette PNG
 * whose stored values are the class ids; ids: a greyscale PNG of the ids).
 * @throws HttpError 400 for other values.
 */
export function parseSegmentFormat(query: URLSearchParams): SegmentFormat {
  const format = query.get('format') ?? 'png';
  const mask = query.get('mask') ?? 'colour';
  if (format === 'json') return { kind: 'json' };
  if (format !== 'png') throw new HttpError(400, `format=${format}: expected format=png (a mask PNG) or format=json`);
  if (mask !== 'colour' && mask !== 'ids') throw new HttpError(400, `mask=${mask}: expected mask=colour (palette PNG) or mask=ids (greyscale class ids)`);
  return { kind: 'png', mask };
}

/**
 * Checks the Content-Type of an upload: absent, image/png, image/jpeg, application/octet-stream or curl's
 * default; a multipart form or JSON is refused with a hint.
 * @throws HttpError 415 otherwise.
 */
export function checkUploadType(contentType: string | undefined): void {
  if (contentType === undefined) return;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (!ACCEPTED_TYPES.includes(type)) {
    throw new HttpError(415, `Content-Type ${type}: expected the raw bytes of a PNG or JPEG (image/png, image/jpeg or ` +
      'application/octet-stream), not a form or JSON; with curl: --data-binary @image.png, not -F');
  }
}

/**
 * Decodes PNG or JPEG bytes to 8-bit RGB (alpha dropped, greyscale expanded), refusing images of more
 * than `maxPixels` before decoding them.
 * @throws HttpError 400 for anything that is not a complete PNG or JPEG, 413 for too many pixels.
 */
export async function decodeUpload(bytes: Buffer, maxPixels: number): Promise<RgbImage> {
  const isPng = bytes.length >= 8 && PNG_SIGNATURE.every((byte, at) => bytes[at] === byte);
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new HttpError(400, `the body (${bytes.length} bytes) is not a PNG or JPEG image: POST the file's bytes as they are`);
  let metadata: sharp.Metadata;
  try {
    // the header only (no pixels are decoded): without sharp's own pixel limit, so that a header declaring more than
    // its 268M-pixel default is the 413 below, not a 400 calling the file corrupt
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new HttpError(400, `cannot read the image header (${(error as Error).message.trim()}); the file is corrupt`);
  }
  const pixels = (metadata.width ?? 0) * (metadata.height ?? 0);
  if (pixels > maxPixels) {
    throw new HttpError(413, `image of ${metadata.width}x${metadata.height} has more than ${maxPixels} pixels; downscale it or raise --max-pixels`);
  }
  try {
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: maxPixels }).removeAlpha().toColourspace('srgb')
      .raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (error) {
    throw new HttpError(400, `cannot decode the image (${(error as Error).message.trim()}); it is truncated or corrupt`);
  }
}

/** Pixels per class id: `counts[c]` for c < classCount. */
export function classCounts(mask: Uint8Array, classCount: number): number[] {
  const counts = new Array<number>(classCount).fill(0);
  for (const classId of mask) if (classId < classCount) counts[classId] = (counts[classId] as number) + 1;
  return counts;
}

/** The response body of a segmentation: a mask PNG or the JSON summary with the ids as base64. */
export function encodeSegmentResponse(result: MaskResult, format: SegmentFormat, inferenceMs: number): { type: string; body: Buffer | string } {
  switch (format.kind) {
    case 'json':
      return {
        type: 'application/json',
        body: `${JSON.stringify({
          width: result.width, height: result.height, classNames: result.classNames, colours: result.colours,
          counts: classCounts(result.mask, result.classNames.length), inferenceMs,
          mask: Buffer.from(result.mask.buffer, result.mask.byteOffset, result.mask.byteLength).toString('base64'),
        })}\n`,
      };
    case 'png': {
      if (format.mask === 'ids') return { type: 'image/png', body: encodePng(result.mask, result.width, result.height) };
      const palette = new Uint8Array(256 * 3); // 256 entries: every uint8 id is in range; unused ones stay black
      result.colours.forEach((colour, classId) => palette.set(colour.slice(0, 3), classId * 3));
      return { type: 'image/png', body: encodePng(result.mask, result.width, result.height, palette) };
    }
    default: {
      const unreachable: never = format;
      throw new HttpError(500, `unhandled format ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * Runs tasks one at a time (one model session, no oversubscribed threads), with at most `maxPending`
 * waiting or running; past that a request is refused at once rather than queued without bound.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pendingCount = 0;
  constructor(private readonly maxPending: number) {}

  /** Tasks waiting or running. */
  get pending(): number {
    return this.pendingCount;
  }

  /**
   * Runs `task` after every task queued before it.
   * @throws HttpError 503 (with Retry-After) when `maxPending` tasks are already queued.
   */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.pendingCount >= this.maxPending) {
      throw new HttpError(503, `${this.pendingCount} segmentation${this.pendingCount === 1 ? ' is' : 's are'} already running or queued (the limit); retry shortly`, { 'Retry-After': '1' });
    }
    this.pendingCount++;
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    try {
      return await result;
    } finally {
      this.pendingCount--;
    }
  }

  /** Resolves once every queued task has finished. */
  async drain(): Promise<void> {
    await this.tail;
  }
}
