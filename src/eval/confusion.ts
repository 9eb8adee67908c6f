/**
 * The confusion matrix of a segmentation and the metrics read from it. Counts are plain numbers
 * (float64, exact up to 2^53 pixels), so matrices from several processes or runs merge by addition and
 * the metrics are JSON-able data without tensors.
 *
 * Convention for classes absent from both ground truth and prediction (union 0): their IoU and class
 * accuracy are NaN (`JSON.stringify` writes null) and they are left out of every mean, as mmsegmentation
 * does (`np.nanmean` over `intersect / union`) and the Cityscapes scripts do (NaN scores skipped).
 * torchvision's reference script (references/segmentation/utils.py) takes a plain mean, so one absent
 * class makes its mIoU NaN; torchmetrics before 0.11 scored such a class `absent_score` (default 0),
 * which lowers the mean. A class that is predicted but absent from the ground truth has IoU 0 (its
 * union is its false positives) and counts in the mIoU everywhere, here too.
 */
import { DatasetError, ConfigError, ShapeError } from '../errors.js';
import { IGNORE_INDEX } from '../augment/types.js';
import { scalar } from '../torch/creation.js';
import { scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { amin, maskedSelect } from '../torch/ops/shape.js';
import { bincount } from '../torch/ops/functional.js';

/** Class ids as plain values: any integer typed array (uint8 masks, int64 labels) or a number list. */
export type ClassIds = ArrayLike<number> | BigInt64Array;

/** Metrics of a confusion matrix. Per-class arrays are indexed by class id; NaN marks "undefined" (see the file doc). */
export interface SegmentationMetrics {
  /** Per-class IoU = TP / (TP + FP + FN); NaN when the class is absent from ground truth and prediction. */
  readonly iou: number[];
  /** Mean of the defined per-class IoUs (NaN if none is defined). */
  readonly meanIoU: number;
  /** Correct pixels / counted pixels (NaN for an empty matrix). */
  readonly pixelAccuracy: number;
  /** Per-class accuracy (recall) = TP / ground-truth pixels; NaN for a class absent from the ground truth. */
  readonly classAccuracy: number[];
  /** Mean of the defined class accuracies. */
  readonly meanClassAccuracy: number;
  /** Sum over classes of (ground-truth share x IoU) (Long et al. 2015, "Fully Convolutional Networks", Sec. 5). */
  readonly frequencyWeightedIoU: number;
  /** Ground-truth pixels per class (row sums). */
  readonly groundTruthPixels: number[];
  /** Predicted pixels per class (column sums). */
  readonly predictedPixels: number[];
  /** Pixels counted (ignore pixels excluded). */
  readonly pixels: number;
}

function expectClassCount(numClasses: number): void {
  if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > IGNORE_INDEX) {
    throw new ConfigError(`confusion matrix: numClasses must be an integer in 1..${IGNORE_INDEX}, got ${numClasses}`);
  }
}

/** NaN-skipping mean (numpy's nanmean), NaN when nothing is defined. */
function nanMean(values: readonly number[]): number {
  const defined = values.filter((value) => !Number.isNaN(value));
  return defined.length === 0 ? Number.NaN : defined.reduce((sum, value) => sum + value, 0) / defined.length;
}

/**
 * Counts[groundTruth][prediction] over numClasses classes. Ground-truth pixels labelled 255 (ignore)
 * are skipped; any other label outside 0..numClasses-1 is an error, not silently dropped, because it
 * means the class table and the masks disagree.
 */
export class ConfusionMatrix {
  readonly numClasses: number;
  /** Row-major K x K counts: rows ground truth, columns prediction. */
  private readonly counts: Float64Array;

  /** An all-zero matrix. @throws ConfigError unless numClasses is an integer in 1..255. */
  constructor(numClasses: number) {
    expectClassCount(numClasses);
    this.numClasses = numClasses;
    this.counts = new Float64Array(numClasses * numClasses);
  }

  /**
   * A matrix from nested counts (rows ground truth, columns prediction), e.g. `toArray()` of a saved result.
   * @throws ConfigError unless `rows` is square with non-negative integer counts.
   */
  static fromArray(rows: readonly (readonly number[])[]): ConfusionMatrix {
    const matrix = new ConfusionMatrix(rows.length);
    rows.forEach((row, truth) => {
      if (row.length !== rows.length) throw new ConfigError(`confusion matrix: row ${truth} has ${row.length} counts, expected ${rows.length} (a square matrix)`);
      row.forEach((count, predicted) => {
        if (!Number.isInteger(count) || count < 0) throw new ConfigError(`confusion matrix: count [${truth}][${predicted}] must be a non-negative integer, got ${count}`);
        matrix.counts[truth * rows.length + predicted] = count;
      });
    });
    return matrix;
  }

  /** Pixels of ground-truth class `truth` predicted as `predicted`. */
  get(truth: number, predicted: number): number {
    return this.counts[truth * this.numClasses + predicted] as number;
  }

  /** Pixels counted so far. */
  get pixels(): number {
    return this.counts.reduce((sum, count) => sum + count, 0);
  }

  /**
   * Adds predictions and labels given as tensors (borrowed): int64 (or int32/uint8) class ids of the same
   * shape, [B, H, W] or [H, W]. Runs in libtorch: valid pixels are selected, `label * K + prediction`
   * is counted with bincount, and only the K*K counts come back to JavaScript. Returns this.
   * @throws ShapeError for differing shapes or float tensors; DatasetError for a label outside
   * 0..K-1 that is not 255; ConfigError for a prediction outside 0..K-1.
   */
  addTensors(predictions: Tensor, labels: Tensor): this {
    const shape = labels.shape;
    if (predictions.shape.join() !== shape.join() || (shape.length !== 2 && shape.length !== 3)) {
      throw new ShapeError(`confusion matrix: expected predictions and labels of the same shape [B, H, W] or [H, W], ` +
        `got predictions [${predictions.shape.join(', ')}] and labels [${shape.join(', ')}]`);
    }
    for (const [what, ids] of [['predictions', predictions], ['labels', labels]] as const) {
      if (ids.dtype.startsWith('float') || ids.dtype === 'bool') {
        throw new ShapeError(`confusion matrix: ${what} must be integer class ids, got ${ids.dtype}; take argmax(logits, 1) for predictions`);
      }
    }
    const k = this.numClasses;
    const found = scope(() => {
      const labelIds = labels.to('int64').flatten();
      const valid = labelIds.ne(IGNORE_INDEX);
      const truth = maskedSelect(labelIds, valid); // [N] valid pixels
      const predicted = maskedSelect(predictions.to('int64').flatten(), valid); // [N]
      if (truth.size === 0) return null;
      const range = [amin(truth).item(), truth.amax().item(), amin(predicted).item(), predicted.amax().item()];
      if (range[0] < 0 || range[1] >= k || range[2] < 0 || range[3] >= k) return { range, counts: null };
      const counts = bincount(truth.mul(scalar(k, 'int64')).add(predicted), { minlength: k * k }).toTypedArray() as BigInt64Array; // [K*K]
      return { range, counts };
    });
    if (found === null) return this;
    const [minLabel, maxLabel, minPrediction, maxPrediction] = found.range as [number, number, number, number];
    if (minLabel < 0 || maxLabel >= k) this.rejectLabel(maxLabel >= k ? maxLabel : minLabel);
    if (minPrediction < 0 || maxPrediction >= k) this.rejectPrediction(maxPrediction >= k ? maxPrediction : minPrediction);
    const counts = found.counts as BigInt64Array;
    for (let index = 0; index < counts.length; index++) this.counts[index] += Number(counts[index]);
    return this;
  }

  /**
   * Adds predictions and labels given as plain arrays of the same length (e.g. a dataset sample's uint8
   * mask and a predicted mask). The matrix is updated only if every value is valid. Returns this.
   * @throws ShapeError for differing lengths; DatasetError / ConfigError as addTensors.
   */
  addArrays(predictions: ClassIds, labels: ClassIds): this {
    if (predictions.length !== labels.length) {
      throw new ShapeError(`confusion matrix: expected predictions and labels of the same length, got ${predictions.length} and ${labels.length}`);
    }
    const k = this.numClasses;
    const update = new Float64Array(k * k);
    for (let p = 0; p < labels.length; p++) {
      const truth = Number(labels[p]);
      if (truth === IGNORE_INDEX) continue;
      const predicted = Number(predictions[p]);
      if (!(Number.isInteger(truth) && truth >= 0 && truth < k)) this.rejectLabel(truth);
      if (!(Number.isInteger(predicted) && predicted >= 0 && predicted < k)) this.rejectPrediction(predicted);
      update[truth * k + predicted] += 1;
    }
    for (let index = 0; index < update.length; index++) this.counts[index] += update[index] as number;
    return this;
  }

  /** Adds the counts of `other` (e.g. another worker's shard) into this matrix. Returns this. @throws ConfigError for a different class count. */
  merge(other: ConfusionMatrix): this {
    if (other.numClasses !== this.numClasses) {
      throw new ConfigError(`confusion matrix: cannot merge a ${other.numClasses}-class matrix into a ${this.numClasses}-class one`);
    }
    for (let index = 0; index < this.counts.length; index++) this.counts[index] += other.counts[index] as number;
    return this;
  }

  /** The counts as nested arrays, rows ground truth, columns prediction (JSON-able). */
  toArray(): number[][] {
    const k = this.numClasses;
    return Array.from({ length: k }, (_, truth) => Array.from(this.counts.subarray(truth * k, (truth + 1) * k)));
  }

  /** Every metric of the matrix (see SegmentationMetrics and the file doc for undefined values). */
  metrics(): SegmentationMetrics {
    const k = this.numClasses;
    const rows = this.toArray();
    const groundTruthPixels = rows.map((row) => row.reduce((sum, count) => sum + count, 0));
    const predictedPixels = Array.from({ length: k }, (_, predicted) => rows.reduce((sum, row) => sum + (row[predicted] as number), 0));
    const truePositives = rows.map((row, c) => row[c] as number);
    const pixels = groundTruthPixels.reduce((sum, count) => sum + count, 0);
    const iou = truePositives.map((tp, c) => {
      const union = (groundTruthPixels[c] as number) + (predictedPixels[c] as number) - tp;
      return union === 0 ? Number.NaN : tp / union;
    });
    const classAccuracy = truePositives.map((tp, c) => (groundTruthPixels[c] === 0 ? Number.NaN : tp / (groundTruthPixels[c] as number)));
    // a class with ground truth always has a defined IoU; classes without it weigh 0
    const weighted = iou.reduce((sum, value, c) => ((groundTruthPixels[c] as number) > 0 ? sum + (groundTruthPixels[c] as number) * value : sum), 0);
    return {
      iou,
      meanIoU: nanMean(iou),
      pixelAccuracy: pixels === 0 ? Number.NaN : truePositives.reduce((sum, tp) => sum + tp, 0) / pixels,
      classAccuracy,
      meanClassAccuracy: nanMean(classAccuracy),
      frequencyWeightedIoU: pixels === 0 ? Number.NaN : weighted / pixels,
      groundTruthPixels,
      predictedPixels,
      pixels,
    };
  }

  private rejectLabel(label: number): never {
    throw new DatasetError(`confusion matrix: ground-truth label ${label} is outside 0..${this.numClasses - 1} and is not the ignore ` +
      `label ${IGNORE_INDEX}. Check that numClasses matches the dataset's class table, or map the value to ${IGNORE_INDEX}.`);
  }

  private rejectPrediction(predicted: number): never {
    throw new ConfigError(`confusion matrix: predicted class ${predicted} is outside 0..${this.numClasses - 1}. ` +
      'The model predicts more classes than the matrix counts: build the matrix with the classifier\'s numClasses.');
  }
}
