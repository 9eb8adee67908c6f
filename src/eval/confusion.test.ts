/** The confusion matrix and its metrics against hand-computed cases; tensor and typed-array paths agree. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, DatasetError, ShapeError } from '../errors.js';
import { manualSeed, rand, randint, tensor } from '../torch/creation.js';
import { liveTensorCount, scope } from '../torch/scope.js';
import { where } from '../torch/ops/math.js';
import { ConfusionMatrix } from './confusion.js';

/** 12 pixels, K = 4: two ignore pixels, class 2 predicted but absent from the ground truth, class 3 absent from both. */
const LABELS = [0, 0, 0, 0, 1, 1, 1, 255, 255, 0, 1, 1];
const PREDICTIONS = [0, 0, 1, 2, 1, 1, 0, 2, 0, 0, 2, 1];
/** Counted by hand from LABELS and PREDICTIONS (rows ground truth, columns prediction; pixels 7 and 8 ignored). */
const EXPECTED = [
  [3, 1, 1, 0],
  [1, 3, 1, 0],
  [0, 0, 0, 0],
  [0, 0, 0, 0],
];

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} !== ${expected}`);
}

function closeAll(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((value, i) => (Number.isNaN(expected[i] as number) ? assert.ok(Number.isNaN(value), `${what}[${i}] should be NaN, got ${value}`) : close(value, expected[i] as number, `${what}[${i}]`)));
}

describe('ConfusionMatrix', () => {
  it('counts a hand-computed case from typed arrays, skipping ignore pixels', () => {
    const matrix = new ConfusionMatrix(4).addArrays(Uint8Array.from(PREDICTIONS), Uint8Array.from(LABELS));
    assert.deepEqual(matrix.toArray(), EXPECTED);
    assert.equal(matrix.pixels, 10);
    assert.equal(matrix.get(0, 2), 1);
  });

  it('counts the same case from int64 tensors, [H, W] and [B, H, W]', () => {
    const before = liveTensorCount();
    scope(() => {
      const labels = tensor(LABELS, [3, 4], { dtype: 'int64' });
      const predictions = tensor(PREDICTIONS, [3, 4], { dtype: 'int64' });
      assert.deepEqual(new ConfusionMatrix(4).addTensors(predictions, labels).toArray(), EXPECTED);
      assert.deepEqual(new ConfusionMatrix(4).addTensors(predictions.reshape([2, 2, 3]), labels.reshape([2, 2, 3])).toArray(), EXPECTED);
      assert.deepEqual(new ConfusionMatrix(4).addTensors(predictions, labels.to('uint8')).toArray(), EXPECTED);
    });
    assert.equal(liveTensorCount(), before, 'addTensors leaks no tensor');
  });

  it('gives the hand-computed metrics: absent class NaN and out of the means, predicted-only class IoU 0', () => {
    const metrics = ConfusionMatrix.fromArray(EXPECTED).metrics();
    // gt = [5, 5, 0, 0], predicted = [4, 4, 2, 0], tp = [3, 3, 0, 0]
    closeAll(metrics.iou, [3 / (5 + 4 - 3), 3 / (5 + 4 - 3), 0 / (0 + 2 - 0), Number.NaN], 'iou');
    close(metrics.meanIoU, (0.5 + 0.5 + 0) / 3, 'meanIoU');
    close(metrics.pixelAccuracy, 6 / 10, 'pixelAccuracy');
    closeAll(metrics.classAccuracy, [3 / 5, 3 / 5, Number.NaN, Number.NaN], 'classAccuracy');
    close(metrics.meanClassAccuracy, 0.6, 'meanClassAccuracy');
    close(metrics.frequencyWeightedIoU, (5 * 0.5 + 5 * 0.5) / 10, 'frequencyWeightedIoU');
    assert.deepEqual(metrics.groundTruthPixels, [5, 5, 0, 0]);
    assert.deepEqual(metrics.predictedPixels, [4, 4, 2, 0]);
    assert.equal(metrics.pixels, 10);
    const json = JSON.parse(JSON.stringify(metrics)) as { iou: (number | null)[]; classAccuracy: (number | null)[] };
    assert.deepEqual(json.iou, [0.5, 0.5, 0, null], 'NaN is written as null in JSON');
    assert.deepEqual(json.classAccuracy, [0.6, 0.6, null, null]);
  });

  it('gives the hand-computed metrics of an asymmetric matrix (frequency weights differ from the plain mean)', () => {
    const metrics = ConfusionMatrix.fromArray([[8, 2, 0], [1, 3, 0], [0, 1, 5]]).metrics();
    // gt = [10, 4, 6], predicted = [9, 6, 5], tp = [8, 3, 5], 20 pixels
    closeAll(metrics.iou, [8 / 11, 3 / 7, 5 / 6], 'iou');
    close(metrics.meanIoU, (8 / 11 + 3 / 7 + 5 / 6) / 3, 'meanIoU');
    close(metrics.pixelAccuracy, 16 / 20, 'pixelAccuracy');
    closeAll(metrics.classAccuracy, [0.8, 0.75, 5 / 6], 'classAccuracy');
    close(metrics.meanClassAccuracy, (0.8 + 0.75 + 5 / 6) / 3, 'meanClassAccuracy');
    close(metrics.frequencyWeightedIoU, (10 * (8 / 11) + 4 * (3 / 7) + 6 * (5 / 6)) / 20, 'frequencyWeightedIoU');
  });

  it('an empty matrix (every pixel ignored) has undefined metrics, not zeros', () => {
    const matrix = new ConfusionMatrix(2).addArrays([0, 1], [255, 255]);
    scope(() => matrix.addTensors(tensor([1, 0], [1, 2], { dtype: 'int64' }), tensor([255, 255], [1, 2], { dtype: 'int64' })));
    const metrics = matrix.metrics();
    assert.equal(matrix.pixels, 0);
    for (const value of [metrics.meanIoU, metrics.pixelAccuracy, metrics.meanClassAccuracy, metrics.frequencyWeightedIoU, ...metrics.iou]) {
      assert.ok(Number.isNaN(value));
    }
  });

  it('tensor and typed-array paths agree on random labels with ignore pixels, and merge adds', () => {
    manualSeed(5);
    const before = liveTensorCount();
    const [predictions, labels] = scope(() => {
      const ids = randint(0, 6, [3, 9, 11]);
      const ignored = where(rand([3, 9, 11]).lt(0.2), 255, ids);
      return [randint(0, 6, [3, 9, 11]).toTypedArray() as BigInt64Array, ignored.to('int64').toTypedArray() as BigInt64Array];
    });
    const fromTensors = scope(() => new ConfusionMatrix(6).addTensors(tensor(predictions, [3, 9, 11]), tensor(labels, [3, 9, 11])));
    const fromArrays = new ConfusionMatrix(6).addArrays(predictions, labels);
    assert.deepEqual(fromTensors.toArray(), fromArrays.toArray());
    assert.ok(fromArrays.pixels > 200 && fromArrays.pixels < 297, 'some pixels were ignored');
    const half = 3 * 9 * 11 / 3;
    const merged = new ConfusionMatrix(6).addArrays(predictions.subarray(0, half), labels.subarray(0, half))
      .merge(new ConfusionMatrix(6).addArrays(predictions.subarray(half), labels.subarray(half)));
    assert.deepEqual(merged.toArray(), fromArrays.toArray());
    assert.equal(liveTensorCount(), before);
  });

  it('rejects labels outside the class table (not 255), bad predictions and shapes, leaving the counts untouched', () => {
    const matrix = new ConfusionMatrix(4).addArrays([1], [1]);
    assert.throws(() => matrix.addArrays([0, 1], [0, 7]), (error: unknown) => error instanceof DatasetError &&
      /ground-truth label 7 is outside 0\.\.3 and is not the ignore label 255\. Check that numClasses matches/.test(error.message));
    assert.throws(() => matrix.addArrays([0, 4], [0, 1]), (error: unknown) => error instanceof ConfigError &&
      /predicted class 4 is outside 0\.\.3/.test(error.message));
    assert.throws(() => matrix.addArrays([0], [0, 1]), (error: unknown) => error instanceof ShapeError && /same length, got 1 and 2/.test(error.message));
    const before = liveTensorCount();
    scope(() => {
      const ids = (values: number[]) => tensor(values, [1, values.length], { dtype: 'int64' });
      assert.throws(() => matrix.addTensors(ids([0, 1]), ids([0, 9])), (error: unknown) => error instanceof DatasetError && /label 9 is outside 0\.\.3/.test(error.message));
      assert.throws(() => matrix.addTensors(ids([0, 1]), ids([-1, 0])), (error: unknown) => error instanceof DatasetError && /label -1 is outside/.test(error.message));
      assert.throws(() => matrix.addTensors(ids([5, 1]), ids([0, 255])), (error: unknown) => error instanceof ConfigError && /predicted class 5/.test(error.message));
      assert.throws(() => matrix.addTensors(ids([0, 1, 2]), ids([0, 1])), (error: unknown) => error instanceof ShapeError &&
        /same shape \[B, H, W\] or \[H, W\], got predictions \[1, 3\] and labels \[1, 2\]/.test(error.message));
      assert.throws(() => matrix.addTensors(tensor([0, 1], [1, 2]), ids([0, 1])), (error: unknown) => error instanceof ShapeError &&
        /predictions must be integer class ids, got float32; take argmax/.test(error.message));
    });
    assert.equal(liveTensorCount(), before, 'errors leak no tensor');
    assert.deepEqual(matrix.toArray(), [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]);
    assert.throws(() => matrix.merge(new ConfusionMatrix(3)), (error: unknown) => error instanceof ConfigError && /cannot merge a 3-class matrix into a 4-class one/.test(error.message));
    assert.throws(() => new ConfusionMatrix(0), (error: unknown) => error instanceof ConfigError && /numClasses must be an integer in 1\.\.255, got 0/.test(error.message));
    assert.throws(() => ConfusionMatrix.fromArray([[1, 2], [3]]), (error: unknown) => error instanceof ConfigError && /row 1 has 1 counts, expected 2/.test(error.message));
  });
});
