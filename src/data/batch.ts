/**
 * Turns dataset samples into one batch of plain typed arrays: images normalised to NCHW float32, labels
 * as int64, and for contrastive pretraining a second, photometrically distorted view with the same
 * geometry. Runs in loader workers (no libtorch here); the main thread only wraps the arrays in tensors.
 */
import { augmentGeometry, checkGeometricOptions, type GeometricOptions, type Rgb } from '../augment/geometric.js';
import { checkDistortionOptions, distort, type DistortionOptions } from '../augment/photometric.js';
import { Rng } from '../augment/rng.js';
import { toFloatImage, type LabelledImage } from '../augment/types.js';
import { ConfigError, DatasetError } from '../errors.js';
import type { SegmentationDataset } from './types.js';

/** ImageNet channel statistics (torchvision's normalisation constants), the usual default. */
export const IMAGENET_MEAN: Rgb = [0.485, 0.456, 0.406];
export const IMAGENET_STD: Rgb = [0.229, 0.224, 0.225];

/** What to do to every sample of a batch. Plain data: it is sent to worker threads. */
export interface BatchRecipe {
  /** Geometric augmentation, or null to keep samples as they are (evaluation). */
  readonly geometric: GeometricOptions | null;
  /** Distortions of the second view Î, or null for a single view. */
  readonly distortions: DistortionOptions | null;
  /** Per-channel mean and std of images scaled to [0, 1]; output = (value - mean) / std. */
  readonly mean: Rgb;
  readonly std: Rgb;
}

/** One sample of a batch: its dataset index and the seed of its augmentation stream. */
export interface BatchItem {
  readonly index: number;
  readonly seed: number;
}

/** A batch as typed arrays: images [B,3,H,W] float32, distorted [B,3,H,W] or null, labels [B,H,W] int64. */
export interface RawBatch {
  readonly ids: string[];
  readonly size: number;
  readonly height: number;
  readonly width: number;
  readonly images: Float32Array;
  readonly distorted: Float32Array | null;
  readonly labels: BigInt64Array;
}

/** @throws ConfigError naming the first bad field. */
export function checkRecipe(recipe: BatchRecipe): void {
  if (recipe.geometric !== null) checkGeometricOptions(recipe.geometric);
  if (recipe.distortions !== null) checkDistortionOptions(recipe.distortions);
  for (let c = 0; c < 3; c++) {
    if (!Number.isFinite(recipe.mean[c]) || !((recipe.std[c] as number) > 0)) {
      throw new ConfigError(`normalisation: expected finite means and positive stds, got mean ${JSON.stringify(recipe.mean)} std ${JSON.stringify(recipe.std)}.`);
    }
  }
}

/** Padding colour of the image: the mean, so padded pixels normalise to 0. */
export function meanColour(mean: Rgb): Rgb {
  return [Math.round(mean[0] * 255), Math.round(mean[1] * 255), Math.round(mean[2] * 255)];
}

/** Writes a uint8 HxWx3 image into `out` at `offset` as normalised CHW. */
function writeNormalised(image: Uint8Array, pixels: number, out: Float32Array, offset: number, tables: Float32Array[]): void {
  for (let c = 0; c < 3; c++) {
    const table = tables[c] as Float32Array;
    const plane = offset + c * pixels;
    for (let p = 0; p < pixels; p++) out[plane + p] = table[image[p * 3 + c] as number] as number;
  }
}

/**
 * A uint8 HxWx3 image as normalised CHW float32 ((v / 255 - mean) / std), exactly as the loader
 * prepares training images: the input of a model at inference time.
 */
export function normalisedChw(image: Uint8Array, width: number, height: number, mean: Rgb = IMAGENET_MEAN, std: Rgb = IMAGENET_STD): Float32Array {
  const out = new Float32Array(3 * width * height);
  writeNormalised(image, width * height, out, 0, normalisationTables(mean, std));
  return out;
}

/** value -> normalised value, per channel; the same arithmetic as writeNormalisedFloat on toFloatImage's values. */
function normalisationTables(mean: Rgb, std: Rgb): Float32Array[] {
  return [0, 1, 2].map((c) => Float32Array.from({ length: 256 }, (_, v) => (Math.fround(v / 255) - (mean[c] as number)) / (std[c] as number)));
}

/** Writes a [0, 1] float HxWx3 image into `out` at `offset` as normalised CHW. */
function writeNormalisedFloat(image: Float32Array, pixels: number, out: Float32Array, offset: number, recipe: BatchRecipe): void {
  for (let c = 0; c < 3; c++) {
    const mean = recipe.mean[c] as number;
    const std = recipe.std[c] as number;
    const plane = offset + c * pixels;
    for (let p = 0; p < pixels; p++) out[plane + p] = ((image[p * 3 + c] as number) - mean) / std;
  }
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Copies uint8 class ids into int64 labels at `offset` (on little-endian hosts through the low 32-bit words, ~10x faster than BigInt). */
function writeLabels(mask: Uint8Array, labels: BigInt64Array, offset: number): void {
  if (LITTLE_ENDIAN) {
    const words = new Int32Array(labels.buffer, labels.byteOffset + offset * 8, mask.length * 2);
    for (let p = 0; p < mask.length; p++) words[p * 2] = mask[p] as number;
  } else {
    for (let p = 0; p < mask.length; p++) labels[offset + p] = BigInt(mask[p] as number);
  }
}

/**
 * Reads, augments and normalises the samples `items` of `dataset` into one batch. Deterministic: each
 * sample's draws come only from its own seed, whatever thread runs this.
 * @throws DatasetError for bad files, or when samples of different sizes meet in a batch without a crop.
 */
export async function buildBatch(dataset: SegmentationDataset, items: readonly BatchItem[], recipe: BatchRecipe): Promise<RawBatch> {
  const samples = await Promise.all(items.map((item) => dataset.get(item.index)));
  const pad = meanColour(recipe.mean);
  const rngs = items.map((item) => new Rng(item.seed));
  const views: LabelledImage[] = samples.map((sample, i) => (recipe.geometric === null ? sample : augmentGeometry(sample, rngs[i] as Rng, recipe.geometric, pad)));
  const first = views[0] as LabelledImage;
  views.forEach((view, i) => {
    if (view.width !== first.width || view.height !== first.height) {
      throw new DatasetError(`a batch mixes image sizes: "${samples[0]?.id}" gives ${first.width}x${first.height}, "${samples[i]?.id}" ` +
        `gives ${view.width}x${view.height}. Set a crop size in the augmentation, or use batch size 1 for datasets of varying sizes.`);
    }
  });
  const pixels = first.width * first.height;
  const images = new Float32Array(views.length * 3 * pixels);
  const distorted = recipe.distortions === null ? null : new Float32Array(views.length * 3 * pixels);
  const labels = new BigInt64Array(views.length * pixels);
  // same arithmetic as writeNormalisedFloat on toFloatImage's float32 values, so an undistorted Î equals I bit for bit
  const tables = normalisationTables(recipe.mean, recipe.std);
  views.forEach((view, b) => {
    writeNormalised(view.image, pixels, images, b * 3 * pixels, tables);
    if (distorted !== null && recipe.distortions !== null) {
      const float = toFloatImage(view.image, view.width, view.height);
      distort(float, rngs[b] as Rng, recipe.distortions);
      writeNormalisedFloat(float.data, pixels, distorted, b * 3 * pixels, recipe);
    }
    writeLabels(view.mask, labels, b * pixels);
  });
  return { ids: samples.map((sample) => sample.id), size: views.length, height: first.height, width: first.width, images, distorted, labels };
}
