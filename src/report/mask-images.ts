/**
 * Prediction images from plain data: a coloured class mask (a palette PNG whose stored values are the
 * class ids, so it stays machine-readable) and an overlay of the colours on the input image.
 * Class ids are uint8, 255 = ignore/unknown (the datasets' convention); ignore pixels are drawn black in
 * the mask and show the bare image in the overlay.
 */
import sharp from 'sharp';
import { encodePng } from '../data/png.js';
import { ConfigError, ShapeError } from '../errors.js';

/** An RGB colour, each channel 0..255. */
export type RgbColour = readonly [number, number, number];

/** A class-id map: `classIds` is HxW uint8, row-major, 255 = ignore. */
export interface ClassMask {
  readonly width: number;
  readonly height: number;
  readonly classIds: Uint8Array;
}

/** Default overlay opacity of the class colours. */
export const DEFAULT_OVERLAY_OPACITY = 0.5;

const IGNORE = 255;

/**
 * Encodes `mask` as a palette PNG: class `c` is drawn `colours[c]`, ignore (255) black. The stored
 * values are the class ids, so `decodePngValues` reads the prediction back exactly.
 * @throws ShapeError if `classIds` is not `width * height` long.
 * @throws ConfigError if there are more than 255 colours or a class id has no colour.
 */
export function colourMaskPng(mask: ClassMask, colours: readonly RgbColour[]): Buffer {
  checkMask(mask, colours);
  // 256 entries so that index 255 (ignore) is in range; entries past the classes stay black.
  const palette = new Uint8Array(256 * 3);
  colours.forEach((colour, classId) => palette.set(colour, classId * 3));
  return encodePng(mask.classIds, mask.width, mask.height, palette);
}

/**
 * Blends the class colours over an image: `(1 - opacity) * image + opacity * colour`, rounded; ignore
 * pixels keep the image. Returns a new HxWx3 uint8 array (interleaved RGB); the inputs are not changed.
 * @param image HxWx3 uint8 RGB, the size of `mask`.
 * @throws ShapeError if `image` or `classIds` does not match `width` and `height`.
 * @throws ConfigError if `opacity` is outside [0, 1], or as {@link colourMaskPng}.
 */
export function blendOverlay(image: Uint8Array, mask: ClassMask, colours: readonly RgbColour[], opacity = DEFAULT_OVERLAY_OPACITY): Uint8Array {
  checkMask(mask, colours);
  checkImage(image, mask);
  if (!(opacity >= 0 && opacity <= 1)) throw new ConfigError(`overlay opacity must be in [0, 1], got ${opacity}.`);
  const blended = Uint8Array.from(image);
  mask.classIds.forEach((classId, pixel) => {
    if (classId === IGNORE) return;
    const colour = colours[classId] as RgbColour;
    for (let channel = 0; channel < 3; channel++) {
      const at = pixel * 3 + channel;
      blended[at] = Math.round((1 - opacity) * (image[at] as number) + opacity * colour[channel]);
    }
  });
  return blended;
}

/**
 * {@link blendOverlay} encoded as an RGB PNG (by sharp).
 * @throws as {@link blendOverlay}.
 */
export async function overlayPng(image: Uint8Array, mask: ClassMask, colours: readonly RgbColour[], opacity = DEFAULT_OVERLAY_OPACITY): Promise<Buffer> {
  const blended = blendOverlay(image, mask, colours, opacity);
  return sharp(Buffer.from(blended.buffer, blended.byteOffset, blended.byteLength), {
    raw: { width: mask.width, height: mask.height, channels: 3 },
  }).png().toBuffer();
}

function checkMask(mask: ClassMask, colours: readonly RgbColour[]): void {
  const { width, height, classIds } = mask;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ShapeError(`mask size must be positive integers, got ${width}x${height}.`);
  }
  if (classIds.length !== width * height) {
    throw new ShapeError(`mask of ${width}x${height} needs ${width * height} class ids, got ${classIds.length}.`);
  }
  if (colours.length > IGNORE) {
    throw new ConfigError(`at most 255 class colours fit a uint8 mask (255 is ignore), got ${colours.length}.`);
  }
  for (const classId of classIds) {
    if (classId !== IGNORE && classId >= colours.length) {
      throw new ConfigError(`the mask has class id ${classId} but only ${colours.length} colours were given (ids 0..${colours.length - 1}, 255 = ignore). ` +
        'Pass one colour per class of the dataset.');
    }
  }
}

function checkImage(image: Uint8Array, mask: ClassMask): void {
  if (image.length !== mask.width * mask.height * 3) {
    throw new ShapeError(`image for a ${mask.width}x${mask.height} mask must be HxWx3 = ${mask.width * mask.height * 3} bytes, got ${image.length}. ` +
      'Resize the prediction to the image size, or pass RGB without alpha.');
  }
}
