/**
 * Geometric augmentation of an image and its mask together: random scale, random crop with padding,
 * horizontal flip. One random draw (a GeometryPlan) is applied to both, so they stay aligned.
 *
 * Resampling is centre-aligned (PyTorch `align_corners=False`): output pixel x of a resize from W to W'
 * reads source coordinate (x + 0.5) * W / W' - 0.5. Images use bilinear interpolation (clamped at the
 * border, like F.interpolate(mode='bilinear')), masks use nearest neighbour only (like mode='nearest-exact'),
 * so class ids are never blended. Scale, padding, crop and flip are fused in one pass over the output.
 */
import { ConfigError } from '../errors.js';
import type { Rng } from './rng.js';
import { IGNORE_INDEX, type LabelledImage } from './types.js';

/** An RGB colour, each channel 0..255. */
export type Rgb = readonly [number, number, number];

/** Options of the geometric augmentation. */
export interface GeometricOptions {
  /** Scale factor range [min, max], drawn uniformly per sample; [1, 1] disables scaling. */
  readonly scale: readonly [number, number];
  /**
   * Output size after scaling. A scaled image larger than the crop is cropped at a random offset; a
   * smaller one is placed at a random offset and padded (image with `padColour`, mask with 255).
   * null keeps the scaled size (batches then need images of equal size).
   */
  readonly crop: { readonly width: number; readonly height: number } | null;
  /** Probability of a horizontal flip. */
  readonly flipProbability: number;
}

/** Defaults: scale in [0.5, 2.0] (the DeepLab family's usual training range), no crop, flip with p = 0.5. */
export const DEFAULT_GEOMETRIC_OPTIONS: GeometricOptions = { scale: [0.5, 2.0], crop: null, flipProbability: 0.5 };

/** One random draw of the geometric augmentation; apply it to the image and the mask alike. */
export interface GeometryPlan {
  readonly sourceWidth: number;
  readonly sourceHeight: number;
  /** Size after scaling, before cropping. */
  readonly scaledWidth: number;
  readonly scaledHeight: number;
  readonly outWidth: number;
  readonly outHeight: number;
  /** Offset of the output window in the scaled image; negative when the output is padded there. */
  readonly top: number;
  readonly left: number;
  /** Mirror the output horizontally. */
  readonly flip: boolean;
}

/** @throws ConfigError naming the bad option. */
export function checkGeometricOptions(options: GeometricOptions): void {
  const [low, high] = options.scale;
  if (!(low > 0 && high >= low && Number.isFinite(high))) {
    throw new ConfigError(`augmentation scale: expected 0 < min <= max, got [${low}, ${high}]. Use e.g. [0.5, 2.0], or [1, 1] for no scaling.`);
  }
  if (options.crop !== null && !(Number.isInteger(options.crop.width) && Number.isInteger(options.crop.height) &&
      options.crop.width > 0 && options.crop.height > 0)) {
    throw new ConfigError(`augmentation crop: expected positive integer width and height, got ${JSON.stringify(options.crop)}.`);
  }
  if (!(options.flipProbability >= 0 && options.flipProbability <= 1)) {
    throw new ConfigError(`augmentation flipProbability: expected a probability in [0, 1], got ${options.flipProbability}.`);
  }
}

/** Draws a GeometryPlan for an image of the given size (always 3 draws: scale, offset, flip; 4 with a crop). */
export function planGeometry(rng: Rng, width: number, height: number, options: GeometricOptions): GeometryPlan {
  const factor = rng.uniform(options.scale[0], options.scale[1]);
  const scaledWidth = Math.max(1, Math.round(width * factor));
  const scaledHeight = Math.max(1, Math.round(height * factor));
  const outWidth = options.crop?.width ?? scaledWidth;
  const outHeight = options.crop?.height ?? scaledHeight;
  const top = randomOffset(rng, scaledHeight, outHeight);
  const left = randomOffset(rng, scaledWidth, outWidth);
  const flip = rng.chance(options.flipProbability);
  return { sourceWidth: width, sourceHeight: height, scaledWidth, scaledHeight, outWidth, outHeight, top, left, flip };
}

/** Offset of a window of size `window` over an extent `extent`: in [0, extent-window], or [extent-window, 0] if it overhangs. */
function randomOffset(rng: Rng, extent: number, window: number): number {
  const slack = extent - window;
  return slack >= 0 ? rng.integer(0, slack) : rng.integer(slack, 0);
}

/** The plan of a plain resize (no crop, no flip): for evaluation and tests. */
export function resizePlan(width: number, height: number, outWidth: number, outHeight: number): GeometryPlan {
  return { sourceWidth: width, sourceHeight: height, scaledWidth: outWidth, scaledHeight: outHeight, outWidth, outHeight, top: 0, left: 0, flip: false };
}

/** Source column of each output column in scaled coordinates, or -1 where the output is padding. */
function scaledColumns(plan: GeometryPlan): Int32Array {
  const columns = new Int32Array(plan.outWidth);
  for (let x = 0; x < plan.outWidth; x++) {
    const scaledX = (plan.flip ? plan.outWidth - 1 - x : x) + plan.left;
    columns[x] = scaledX >= 0 && scaledX < plan.scaledWidth ? scaledX : -1;
  }
  return columns;
}

/** Bilinear source taps of a centre-aligned resize from `size` to `scaledSize` at scaled coordinate `scaled`. */
function bilinearTap(scaled: number, size: number, scaledSize: number): [number, number, number] {
  const source = Math.max((scaled + 0.5) * (size / scaledSize) - 0.5, 0);
  const first = Math.floor(source);
  const second = first < size - 1 ? first + 1 : first;
  return [first, second, source - first];
}

/** Nearest-exact source index of a centre-aligned resize from `size` to `scaledSize`. */
function nearestTap(scaled: number, size: number, scaledSize: number): number {
  return Math.min(Math.floor((scaled + 0.5) * (size / scaledSize)), size - 1);
}

/**
 * Applies a plan to a uint8 HxWx3 image (bilinear). Returns a new outHeight x outWidth x 3 image.
 * Padding pixels get `padColour`.
 */
export function warpImage(image: Uint8Array, plan: GeometryPlan, padColour: Rgb): Uint8Array {
  const { sourceWidth: width, sourceHeight: height, outWidth, outHeight } = plan;
  const out = new Uint8Array(outWidth * outHeight * 3);
  const columns = scaledColumns(plan);
  const left = new Int32Array(outWidth);
  const right = new Int32Array(outWidth);
  const weight = new Float64Array(outWidth);
  for (let x = 0; x < outWidth; x++) {
    const scaledX = columns[x] as number;
    if (scaledX < 0) continue;
    const [first, second, lambda] = bilinearTap(scaledX, width, plan.scaledWidth);
    left[x] = first * 3;
    right[x] = second * 3;
    weight[x] = lambda;
  }
  for (let y = 0; y < outHeight; y++) {
    const scaledY = y + plan.top;
    let o = y * outWidth * 3;
    const inside = scaledY >= 0 && scaledY < plan.scaledHeight;
    const [firstRow, secondRow, wy] = inside ? bilinearTap(scaledY, height, plan.scaledHeight) : [0, 0, 0];
    const upper = firstRow * width * 3;
    const lower = secondRow * width * 3;
    for (let x = 0; x < outWidth; x++, o += 3) {
      if (!inside || (columns[x] as number) < 0) {
        out[o] = padColour[0];
        out[o + 1] = padColour[1];
        out[o + 2] = padColour[2];
        continue;
      }
      const a = left[x] as number;
      const b = right[x] as number;
      const wx = weight[x] as number;
      for (let c = 0; c < 3; c++) {
        const top = (image[upper + a + c] as number) * (1 - wx) + (image[upper + b + c] as number) * wx;
        const bottom = (image[lower + a + c] as number) * (1 - wx) + (image[lower + b + c] as number) * wx;
        out[o + c] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return out;
}

/** Applies a plan to a uint8 HxW class-id mask (nearest neighbour). Padding pixels get 255 (ignore). */
export function warpMask(mask: Uint8Array, plan: GeometryPlan): Uint8Array {
  const { sourceWidth: width, sourceHeight: height, outWidth, outHeight } = plan;
  const out = new Uint8Array(outWidth * outHeight).fill(IGNORE_INDEX);
  const columns = scaledColumns(plan);
  const sourceColumns = new Int32Array(outWidth);
  for (let x = 0; x < outWidth; x++) {
    const scaledX = columns[x] as number;
    sourceColumns[x] = scaledX < 0 ? -1 : nearestTap(scaledX, width, plan.scaledWidth);
  }
  for (let y = 0; y < outHeight; y++) {
    const scaledY = y + plan.top;
    if (scaledY < 0 || scaledY >= plan.scaledHeight) continue;
    const row = nearestTap(scaledY, height, plan.scaledHeight) * width;
    const o = y * outWidth;
    for (let x = 0; x < outWidth; x++) {
      const source = sourceColumns[x] as number;
      if (source >= 0) out[o + x] = mask[row + source] as number;
    }
  }
  return out;
}

/** Draws a plan and applies it to image and mask together. Returns a new LabelledImage. */
export function augmentGeometry(sample: LabelledImage, rng: Rng, options: GeometricOptions, padColour: Rgb): LabelledImage {
  const plan = planGeometry(rng, sample.width, sample.height, options);
  return {
    width: plan.outWidth,
    height: plan.outHeight,
    image: warpImage(sample.image, plan, padColour),
    mask: warpMask(sample.mask, plan),
  };
}
