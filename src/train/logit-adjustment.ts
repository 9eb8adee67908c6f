/**
 * Post-hoc logit adjustment (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021): at
 * inference, tau * log(pi_c) is subtracted from every pixel's class-c logit, pi being the class shares of
 * the labelled pixels the classifier was fine-tuned on. tau = 1 is the balanced-error correction: rare
 * classes are no longer out-voted by the prior that cross-entropy bakes into the classifier. Training is
 * unchanged; the classifier adds the offsets in eval mode only (Classifier.setLogitOffset).
 */
import { CheckpointError } from '../errors.js';
import { MAX_LOGIT_ADJUSTMENT } from './config.js';
import { datasetStats } from '../data/stats.js';
import type { SegmentationDataset } from '../data/types.js';

/** What a fine-tuning checkpoint records (metrics.logitAdjustment): tau and the labelled pixels per class it applies to. */
export interface LogitAdjustment {
  readonly tau: number;
  /** Labelled pixels of each class at full resolution (the ignore label left out). */
  readonly pixels: readonly number[];
}

/** Pixels of each class in the labelled images, full resolution, ignore left out (every mask is read once). */
export async function classPixels(labelled: SegmentationDataset): Promise<number[]> {
  return (await datasetStats(labelled)).classes.map((share) => share.pixels);
}

/**
 * The constant added to each class's logit: -tau * log(pi_c), with pi_c = pixels_c / total; a class with
 * no labelled pixel counts as one pixel, so its offset stays finite. No labelled pixel at all, or tau = 0,
 * gives zeros.
 */
export function logitOffsets(adjustment: LogitAdjustment): number[] {
  const total = adjustment.pixels.reduce((sum, count) => sum + count, 0);
  if (total === 0 || adjustment.tau === 0) return adjustment.pixels.map(() => 0);
  return adjustment.pixels.map((count) => -adjustment.tau * Math.log(Math.max(count, 1) / total));
}

/**
 * The adjustment a checkpoint's metrics record, or null when it records none (written before it existed).
 * @throws CheckpointError for a malformed record or one whose class count differs from `numClasses`.
 */
export function recordedLogitAdjustment(metrics: Record<string, unknown>, numClasses: number, file: string): LogitAdjustment | null {
  const record = metrics.logitAdjustment;
  if (record === undefined) return null;
  const { tau, pixels } = (typeof record === 'object' && record !== null ? record : {}) as { tau?: unknown; pixels?: unknown };
  const valid = typeof tau === 'number' && tau >= 0 && tau <= MAX_LOGIT_ADJUSTMENT && Array.isArray(pixels) && pixels.length === numClasses
    && pixels.every((count) => Number.isSafeInteger(count) && (count as number) >= 0);
  if (!valid) throw new CheckpointError(`metrics.logitAdjustment must be { tau in [0, ${MAX_LOGIT_ADJUSTMENT}], pixels: ${numClasses} counts }, got ${JSON.stringify(record)}`, file);
  return { tau, pixels: pixels as number[] };
}
