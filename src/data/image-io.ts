/**
 * Decoding of dataset files into plain typed arrays: RGB images through sharp (PNG, JPEG, WebP, ...),
 * label maps through the palette-aware PNG reader (sharp would expand palette indices to colours).
 * Every failure is a DatasetError naming the file.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { DatasetError } from '../errors.js';
import { decodePngValues, isPng } from './png.js';

/** A decoded RGB image: uint8 HxWx3, row-major, channels interleaved. */
export interface DecodedImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Reads a file, turning a missing or unreadable file into a DatasetError naming it. */
export async function readDatasetFile(file: string, role: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? `${role} file not found` : `cannot read ${role} file (${code ?? (error as Error).message})`;
    throw new DatasetError(`${reason}. Check the dataset root and the split list.`, file);
  }
}

/**
 * Decodes an image file to 8-bit RGB (greyscale is expanded, alpha dropped).
 * @throws DatasetError naming the file if it is missing, truncated or not an image.
 */
export async function decodeImage(file: string): Promise<DecodedImage> {
  return decodeImageBytes(await readDatasetFile(file, 'image'), file);
}

/**
 * Decodes encoded image bytes (PNG, JPEG, WebP, ...) to 8-bit RGB, as decodeImage does for a file.
 * @throws DatasetError naming `name` (a file or a description such as 'request body') if the bytes are
 * truncated, corrupt or not an image.
 */
export async function decodeImageBytes(bytes: Uint8Array, name?: string): Promise<DecodedImage> {
  try {
    const { data, info } = await sharp(bytes, { failOn: 'error' }).removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (error) {
    throw new DatasetError(`cannot decode image (${(error as Error).message.trim()}). The file is truncated, corrupt or not an image; re-export or re-download it.`, name);
  }
}

/**
 * Decodes a label-map file to its stored single-channel values (palette indices or grey levels), unmapped.
 * PNG files are read by the built-in reader; other formats through sharp if they have one channel.
 * @throws DatasetError naming the file if it is missing, corrupt or a colour image.
 */
export async function decodeLabelValues(file: string): Promise<DecodedImage> {
  const bytes = await readDatasetFile(file, 'mask');
  if (isPng(bytes)) {
    const png = decodePngValues(bytes, file);
    if (png === null) throw colourMaskError(file);
    return { width: png.width, height: png.height, data: png.values };
  }
  let channels: number | undefined;
  try {
    channels = (await sharp(bytes).metadata()).channels;
  } catch (error) {
    throw new DatasetError(`cannot decode mask (${(error as Error).message.trim()}). The file is truncated, corrupt or not an image.`, file);
  }
  if (channels !== 1) throw colourMaskError(file);
  try {
    // metadata() reads the header only: the pixels can still be truncated or corrupt.
    const { data, info } = await sharp(bytes, { failOn: 'error' }).extractChannel(0).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (error) {
    throw new DatasetError(`cannot decode mask (${(error as Error).message.trim()}). The file is truncated, corrupt or not an image.`, file);
  }
}

function colourMaskError(file: string): DatasetError {
  return new DatasetError('mask is a colour image; expected a single-channel map of class ids (greyscale or palette PNG). ' +
    'Convert colour-coded masks to class ids first.', file);
}
