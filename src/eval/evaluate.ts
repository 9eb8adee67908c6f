/**
 * Evaluation of a segmentation model on a dataset at every image's native resolution: images are
 * decoded in loader worker threads (no augmentation, dataset order), consecutive images of the same
 * size are batched, and predictions are accumulated into one confusion matrix.
 */
import type { Rgb } from '../augment/geometric.js';
import { ConfigError } from '../errors.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/batch.js';
import { createLoader, type Batch } from '../data/loader.js';
import type { SegmentationDataset } from '../data/types.js';
import { scope } from '../torch/scope.js';
import { cat } from '../torch/ops/shape.js';
import { ConfusionMatrix, type SegmentationMetrics } from './confusion.js';
import { checkTestTimeAugmentation, classCount, enterEvalMode, predictMasks, type SegmentationPredictor, type TestTimeAugmentation } from './predict.js';

/** Options of evaluate. */
export interface EvaluateOptions {
  /**
   * Most images per forward pass (default 1). Only consecutive images of the same size share a batch,
   * so a dataset of mixed sizes works with any value. BatchNorm runs on its running statistics, so the
   * batch size does not change predictions (up to float rounding).
   */
  readonly batchSize?: number;
  /** Normalisation of [0, 1] images; must be what the model was trained with (default ImageNet's). */
  readonly mean?: Rgb;
  readonly std?: Rgb;
  /** Test-time augmentation (default none). */
  readonly tta?: TestTimeAugmentation;
  /** Loader worker threads (default the loader's: min(4, cores - 1)); 0 decodes on the main thread. */
  readonly workers?: number;
  /** Called after every batch with the images evaluated so far and the dataset's length. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** What evaluate returns: plain JSON-able data (NaN metrics are written as null by JSON.stringify). */
export interface EvaluationResult {
  readonly metrics: SegmentationMetrics;
  /** Pixel counts, rows ground truth, columns prediction (ConfusionMatrix.fromArray reads them back). */
  readonly confusion: number[][];
  readonly classNames: string[];
  /** Images evaluated. */
  readonly images: number;
  /** Wall-clock time of the evaluation. */
  readonly seconds: number;
}

function checkOptions(model: SegmentationPredictor, dataset: SegmentationDataset, options: EvaluateOptions): number {
  const batchSize = options.batchSize ?? 1;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new ConfigError(`evaluate batchSize: expected an integer >= 1, got ${batchSize}`);
  checkTestTimeAugmentation(options.tta ?? {});
  const numClasses = classCount(model);
  if (numClasses !== dataset.numClasses) {
    throw new ConfigError(`the model's classifier has ${numClasses} classes but ${dataset.name} has ${dataset.numClasses}. ` +
      'Evaluate on the dataset the classifier was fine-tuned for, or build the classifier with the dataset\'s numClasses.');
  }
  return batchSize;
}

function sameSize(a: Batch, b: Batch): boolean {
  return a.images.shape.slice(2).join() === b.images.shape.slice(2).join();
}

/**
 * Evaluates `model` (borrowed) on every image of `dataset` at its native resolution, without autograd
 * and in evaluation mode; every module's previous train/eval mode is restored afterwards, also on error.
 * No tensor outlives the call.
 * @throws ConfigError for bad options, a non-classifier head or a class-count mismatch; DatasetError
 * for unreadable files or labels outside the class table; ShapeError if the model rejects an image size.
 */
export async function evaluate(model: SegmentationPredictor, dataset: SegmentationDataset, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const batchSize = checkOptions(model, dataset, options);
  const started = performance.now();
  const tta = options.tta ?? {};
  const matrix = new ConfusionMatrix(dataset.numClasses);
  // batches of one image, regrouped below: the loader's fixed-size batches would mix sizes
  const loader = createLoader(dataset, {
    batchSize: 1, seed: 0, augment: null, views: { kind: 'single' }, shuffle: false, dropLast: false,
    mean: options.mean ?? IMAGENET_MEAN, std: options.std ?? IMAGENET_STD, workers: options.workers,
  });
  const restore = enterEvalMode(model);
  // every batch received and not yet freed: on an error the finally below frees them all
  let pending: Batch[] = [];
  let done = 0;
  const flush = (count: number): void => {
    if (count === 0) return;
    const group = pending.slice(0, count);
    scope(() => {
      const images = count === 1 ? (group[0] as Batch).images : cat(group.map((batch) => batch.images)); // [B, 3, H, W]
      const labels = count === 1 ? (group[0] as Batch).labels : cat(group.map((batch) => batch.labels)); // [B, H, W]
      matrix.addTensors(predictMasks(model, images, tta), labels);
    });
    for (const batch of group) batch.dispose();
    pending = pending.slice(count);
    done += count;
    options.onProgress?.(done, dataset.length);
  };
  try {
    for await (const batch of loader.epoch(0)) {
      pending.push(batch);
      if (!sameSize(pending[0] as Batch, batch)) flush(pending.length - 1); // all but the newcomer
      if (pending.length >= batchSize) flush(pending.length);
    }
    flush(pending.length);
  } finally {
    for (const batch of pending) batch.dispose();
    await loader.dispose();
    restore();
  }
  return {
    metrics: matrix.metrics(),
    confusion: matrix.toArray(),
    classNames: [...dataset.classNames],
    images: done,
    seconds: (performance.now() - started) / 1000,
  };
}
