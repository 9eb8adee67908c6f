/**
 * Plain pixel containers shared by augmentation, datasets and the loader. They are typed arrays so that
 * worker threads can hand them over without copying (transferable buffers).
 */

/** Class id that marks pixels to ignore (void, boundaries, padding). */
export const IGNORE_INDEX = 255;

/**
 * An image with its class-id mask, same size.
 * `image`: uint8 RGB, row-major HxWx3 (channels interleaved); `mask`: uint8 class ids HxW, 255 = ignore.
 */
export interface LabelledImage {
  readonly width: number;
  readonly height: number;
  readonly image: Uint8Array;
  readonly mask: Uint8Array;
}

/**
 * A float RGB image in [0, 1], row-major HxWx3 (channels interleaved): the working format of the
 * photometric distortions, which follow torchvision's float semantics (each step clamps to [0, 1]).
 */
export interface FloatImage {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

/** Converts a uint8 HxWx3 image to a FloatImage in [0, 1] (a new buffer). */
export function toFloatImage(image: Uint8Array, width: number, height: number): FloatImage {
  const data = new Float32Array(image.length);
  for (let i = 0; i < image.length; i++) data[i] = (image[i] as number) / 255;
  return { width, height, data };
}
