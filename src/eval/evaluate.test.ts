/**
 * evaluate() and the prediction helpers: a stub model that predicts a known mask (hand-computed
 * confusion and mIoU), a tiny real model checked against predictMasks run image by image, mixed image
 * sizes, test-time augmentation, mode restoration, errors and leaks.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ConfigError, ShapeError } from '../errors.js';
import { Module } from '../nn/index.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/batch.js';
import { colourOf, temporaryFolder, writeFolderFixture, type FixtureImage } from '../data/fixtures.js';
import { openDataset } from '../data/open-dataset.js';
import type { SegmentationDataset } from '../data/types.js';
import { buildSegmentationModel } from '../models/build.js';
import { manualSeed, randn, tensor } from '../torch/creation.js';
import { liveTensorCount, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { softmax } from '../torch/ops/functional.js';
import { flip } from '../torch/ops/shape.js';
import { ConfusionMatrix } from './confusion.js';
import { evaluate } from './evaluate.js';
import { predictMasks, predictProbabilities } from './predict.js';

const CLASSES = ['sky', 'road', 'car', 'bike'];
const K = CLASSES.length;

/** A mask whose four quadrants (top-left, top-right, bottom-left, bottom-right) hold the given values. */
function quadrants(id: string, width: number, height: number, values: [number, number, number, number]): FixtureImage {
  const stored = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) stored[y * width + x] = values[(y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1)] as number;
  }
  return { id, width, height, stored };
}

const folder = await temporaryFolder('contraseg-eval-');
after(() => folder.remove());

/** A folder dataset of the given images (classes CLASSES, 255 = ignore). */
async function datasetOf(name: string, images: FixtureImage[]): Promise<SegmentationDataset> {
  const root = join(folder.path, name);
  await writeFolderFixture(root, images, CLASSES);
  return openDataset({ kind: 'folder', root });
}

// Mixed sizes: a and b are 8x8, c is 12 wide, d is 8x8 again. Quadrant pixels: 16 in 8x8 images, 24 in c.
const MIXED = await datasetOf('mixed', [
  quadrants('a', 8, 8, [0, 1, 2, 255]),
  quadrants('b', 8, 8, [0, 0, 1, 1]),
  quadrants('c', 12, 8, [2, 2, 0, 255]),
  quadrants('d', 8, 8, [1, 0, 0, 0]),
]);

/**
 * Predicts from each pixel's colour the class whose fixture colour is nearest (classes 0..2), then maps
 * it through `predictedOf`: a pixel-wise (hence flip-equivariant) model with a known output. Records
 * the batch shapes it sees and its training flag during forward.
 */
class ColourStub extends Module {
  readonly head = { numClasses: K };
  readonly shapes: number[][] = [];
  readonly modes: boolean[] = [];
  constructor(private readonly predictedOf: readonly number[]) {
    super();
  }

  forwardAtInputSize(images: Tensor): Tensor {
    this.shapes.push(images.shape);
    this.modes.push(this.training);
    const [batch, , height, width] = images.shape as [number, number, number, number];
    const pixels = height * width;
    const values = images.toTypedArray() as Float32Array;
    const logits = new Float32Array(batch * K * pixels);
    for (let n = 0; n < batch; n++) {
      for (let p = 0; p < pixels; p++) {
        const rgb = [0, 1, 2].map((c) => ((values[(n * 3 + c) * pixels + p] as number) * IMAGENET_STD[c] + IMAGENET_MEAN[c]) * 255);
        let nearest = 0;
        let best = Infinity;
        for (let value = 0; value < 3; value++) {
          const distance = colourOf(value).reduce((sum, channel, c) => sum + (channel - (rgb[c] as number)) ** 2, 0);
          if (distance < best) [nearest, best] = [value, distance];
        }
        logits[(n * K + (this.predictedOf[nearest] as number)) * pixels + p] = 10;
      }
    }
    return tensor(logits, [batch, K, height, width]);
  }
}

/** The stub confuses car (2) with road (1). */
const CAR_AS_ROAD = [0, 1, 1];
/**
 * Counted by hand: sky 16 (a) + 32 (b) + 24 (c) + 48 (d) = 120, all right; road 16 + 32 + 16 = 64, all
 * right; car 16 (a) + 48 (c) = 64, all predicted road; bike absent from both; 40 ignore pixels skipped.
 */
const CAR_AS_ROAD_CONFUSION = [[120, 0, 0, 0], [0, 64, 0, 0], [0, 64, 0, 0], [0, 0, 0, 0]];

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} !== ${expected}`);
}

/** The loader's normalisation of a uint8 HxWx3 image into [1, 3, H, W] (same arithmetic as data/batch.ts). */
function normalised(image: Uint8Array, width: number, height: number): Tensor {
  const pixels = width * height;
  const data = new Float32Array(3 * pixels);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < pixels; p++) data[c * pixels + p] = (Math.fround((image[p * 3 + c] as number) / 255) - (IMAGENET_MEAN[c] as number)) / (IMAGENET_STD[c] as number);
  }
  return tensor(data, [1, 3, height, width]);
}

/** The oracle: predictMasks on every image alone, counted from the dataset's own masks. */
async function confusionImageByImage(model: Parameters<typeof predictMasks>[0], dataset: SegmentationDataset): Promise<number[][]> {
  const matrix = new ConfusionMatrix(dataset.numClasses);
  for (let index = 0; index < dataset.length; index++) {
    const sample = await dataset.get(index);
    const predicted = scope(() => predictMasks(model, normalised(sample.image, sample.width, sample.height)).toTypedArray() as BigInt64Array);
    matrix.addArrays(predicted, sample.mask);
  }
  return matrix.toArray();
}

function tinyModel() {
  manualSeed(7);
  return buildSegmentationModel({
    network: { backbone: { kind: 'resnet18', outputStride: 16, widthMultiplier: 0.0625 }, asppChannels: 8, reductionChannels: 4, decoderChannels: 8 },
    head: { kind: 'classifier', numClasses: K },
  });
}

describe('evaluate with a model of known output', () => {
  it('gives the hand-computed confusion and metrics on mixed sizes, batching only same-size neighbours', async () => {
    const stub = new ColourStub(CAR_AS_ROAD);
    const progress: [number, number][] = [];
    const before = liveTensorCount();
    const result = await evaluate(stub, MIXED, { batchSize: 3, onProgress: (done, total) => progress.push([done, total]) });
    assert.equal(liveTensorCount(), before, 'no tensor outlives evaluate');
    assert.deepEqual(MIXED.ids, ['a', 'b', 'c', 'd']);
    assert.deepEqual(result.confusion, CAR_AS_ROAD_CONFUSION);
    assert.deepEqual(stub.shapes, [[2, 3, 8, 8], [1, 3, 8, 12], [1, 3, 8, 8]], 'a and b share a batch; c and d each start a new one');
    assert.deepEqual(progress, [[2, 4], [3, 4], [4, 4]]);
    assert.deepEqual(result.classNames, CLASSES);
    assert.equal(result.images, 4);
    assert.ok(result.seconds > 0);
    // gt = [120, 64, 64, 0], predicted = [120, 128, 0, 0], tp = [120, 64, 0, 0], 248 pixels
    const { metrics } = result;
    assert.deepEqual(metrics.iou.slice(0, 3), [1, 0.5, 0]);
    assert.ok(Number.isNaN(metrics.iou[3] as number), 'bike is absent from ground truth and prediction');
    close(metrics.meanIoU, (1 + 0.5 + 0) / 3, 'meanIoU');
    close(metrics.pixelAccuracy, 184 / 248, 'pixelAccuracy');
    close(metrics.meanClassAccuracy, (1 + 1 + 0) / 3, 'meanClassAccuracy');
    close(metrics.frequencyWeightedIoU, (120 * 1 + 64 * 0.5 + 64 * 0) / 248, 'frequencyWeightedIoU');
    assert.equal(JSON.parse(JSON.stringify(result)).metrics.iou[3], null);
  });

  it('runs in eval mode and restores the train mode; batch size 1 gives the same counts', async () => {
    const stub = new ColourStub(CAR_AS_ROAD);
    stub.train();
    const result = await evaluate(stub, MIXED, { workers: 0 });
    assert.deepEqual(stub.modes, [false, false, false, false]);
    assert.equal(stub.training, true);
    assert.deepEqual(result.confusion, CAR_AS_ROAD_CONFUSION);
    assert.equal(stub.shapes.length, 4);
  });

  it('flip and multi-scale TTA leave a flip-equivariant, scale-robust model\'s counts unchanged', async () => {
    const stub = new ColourStub(CAR_AS_ROAD);
    const result = await evaluate(stub, MIXED, { batchSize: 2, tta: { flip: true, scales: [0.5, 1, 2] } });
    assert.deepEqual(result.confusion, CAR_AS_ROAD_CONFUSION);
    assert.deepEqual(stub.shapes.slice(0, 6).map((shape) => shape.slice(2)), [[4, 4], [4, 4], [8, 8], [8, 8], [16, 16], [16, 16]],
      'each scale is run upright and flipped');
  });

  it('flip TTA on a flip-equivariant model equals no TTA', () => {
    const stub = new ColourStub([0, 1, 2]);
    const before = liveTensorCount();
    scope(() => {
      const image = quadrants('q', 12, 8, [0, 1, 2, 1]);
      const rgb = new Uint8Array(12 * 8 * 3);
      image.stored.forEach((value, i) => rgb.set(colourOf(value), i * 3));
      const images = normalised(rgb, 12, 8);
      const plain = predictProbabilities(stub, images).toArray();
      const flipped = predictProbabilities(stub, images, { flip: true }).toArray();
      plain.forEach((value, i) => assert.ok(Math.abs(value - (flipped[i] as number)) < 1e-6, `probability ${i}`));
      assert.deepEqual(predictMasks(stub, images, { flip: true }).toArray(), Array.from(image.stored));
    });
    assert.equal(liveTensorCount(), before);
  });
});

describe('evaluate with a real model', () => {
  // sizes (and their halves) divisible by the output stride 16; the non-divisible case is tested on its own below
  const realImages = [quadrants('a', 32, 32, [0, 1, 2, 255]), quadrants('b', 32, 32, [3, 0, 1, 1]), quadrants('c', 64, 32, [2, 2, 0, 255]), quadrants('d', 32, 32, [1, 0, 3, 0])];

  it('counts what predictMasks gives image by image, for any batch size, without leaking', async () => {
    const dataset = await datasetOf('real', realImages);
    const model = tinyModel();
    try {
      const expected = await confusionImageByImage(model, dataset);
      const before = liveTensorCount();
      const single = await evaluate(model, dataset);
      const batched = await evaluate(model, dataset, { batchSize: 4 });
      assert.equal(liveTensorCount(), before, 'no tensor outlives evaluate');
      assert.deepEqual(single.confusion, expected);
      assert.deepEqual(batched.confusion, expected, 'BatchNorm in eval mode: batching does not change predictions');
      assert.equal(single.metrics.pixels, 3 * 32 * 32 + 64 * 32 - 16 * 16 - 32 * 16, 'ignore quadrants of a and c skipped');
    } finally {
      model.dispose();
    }
  });

  it('restores mixed train/eval modes and frees everything when TTA is on', async () => {
    const dataset = await datasetOf('real-tta', realImages);
    const model = tinyModel();
    try {
      model.train();
      model.network.backbone.eval(); // frozen BatchNorm statistics, as some fine-tuning recipes do
      const before = liveTensorCount();
      const result = await evaluate(model, dataset, { batchSize: 2, tta: { flip: true, scales: [0.5, 1] } });
      assert.equal(liveTensorCount(), before);
      assert.equal(result.images, 4);
      assert.equal(model.training, true);
      assert.equal(model.head.training, true);
      assert.equal(model.network.backbone.training, false);
      assert.ok(model.network.backbone.namedModules().every(([, module]) => !module.training));
    } finally {
      model.dispose();
    }
  });

  it('flip TTA is flip-symmetric and multi-scale TTA averages the probabilities of every scale', () => {
    const model = tinyModel();
    const before = liveTensorCount();
    try {
      scope(() => {
        const images = randn([2, 3, 32, 64]);
        const symmetric = predictProbabilities(model, images, { flip: true });
        const ofFlipped = predictProbabilities(model, flip(images, [3]), { flip: true });
        assertClose(flip(ofFlipped, [3]), symmetric, 'P_tta(flip x) = flip(P_tta(x))');
        model.eval();
        const plain = softmax(model.forwardAtInputSize(images), 1);
        assertClose(predictProbabilities(model, images), plain, 'no TTA is the softmax of the logits');
        const half = predictProbabilities(model, images, { scales: [0.5] });
        const both = predictProbabilities(model, images, { scales: [0.5, 1] });
        assertClose(both, half.add(plain).div(2), 'two scales average their probabilities');
        assert.deepEqual(half.shape, [2, K, 32, 64], 'scaled views come back at the input size');
        assert.deepEqual(predictMasks(model, images, { scales: [0.5, 1] }).toArray(), both.argmax(1).toArray());
        assert.equal(predictMasks(model, images).dtype, 'int64');
      });
      assert.equal(liveTensorCount(), before);
    } finally {
      model.dispose();
    }
  });

  it('evaluates sizes not divisible by the output stride (97x131) at native resolution', async () => {
    const dataset = await datasetOf('odd', [quadrants('odd', 131, 97, [0, 1, 2, 255]), quadrants('small', 33, 17, [3, 3, 1, 0])]);
    const model = tinyModel();
    try {
      const before = liveTensorCount();
      const result = await evaluate(model, dataset, { batchSize: 2 });
      assert.deepEqual(result.confusion, await confusionImageByImage(model, dataset));
      assert.equal(result.metrics.pixels + countIgnored(131, 97), 131 * 97 + 33 * 17);
      // scales give odd sizes too (98x73, 164x121, ...); every view comes back at the native size
      const augmented = await evaluate(model, dataset, { tta: { flip: true, scales: [0.75, 1.25] } });
      assert.equal(augmented.metrics.pixels, result.metrics.pixels);
      assert.equal(liveTensorCount(), before);
    } finally {
      model.dispose();
    }
  });
});

/** Pixels of the bottom-right quadrant of a quadrants() mask (the ignore quadrant above). */
function countIgnored(width: number, height: number): number {
  return (width - Math.ceil(width / 2)) * (height - Math.ceil(height / 2));
}

function assertClose(actual: Tensor, expected: Tensor, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, what);
  const difference = actual.sub(expected).abs().amax().item();
  assert.ok(difference < 1e-5, `${what}: max difference ${difference}`);
}

describe('evaluate and predict errors', () => {
  it('reject a projection head, a class-count mismatch, bad options and bad inputs, restoring the mode', async () => {
    manualSeed(1);
    const projection = buildSegmentationModel({
      network: { backbone: { kind: 'resnet18', outputStride: 16, widthMultiplier: 0.0625 }, asppChannels: 8, reductionChannels: 4, decoderChannels: 8 },
      head: { kind: 'projection', width: 4 },
    });
    try {
      await assert.rejects(evaluate(projection, MIXED), (error: unknown) => error instanceof ConfigError &&
        /inference needs a classifier head, but the model's head is a ProjectionHead\. Swap it with model\.withHead/.test(error.message));
    } finally {
      projection.dispose();
    }
    const threeClasses = new ColourStub(CAR_AS_ROAD);
    (threeClasses.head as { numClasses: number }).numClasses = 3;
    await assert.rejects(evaluate(threeClasses, MIXED), (error: unknown) => error instanceof ConfigError &&
      /the model's classifier has 3 classes but folder all \(.*\) has 4/.test(error.message));
    const stub = new ColourStub(CAR_AS_ROAD);
    await assert.rejects(evaluate(stub, MIXED, { batchSize: 0 }), (error: unknown) => error instanceof ConfigError && /batchSize: expected an integer >= 1, got 0/.test(error.message));
    await assert.rejects(evaluate(stub, MIXED, { tta: { scales: [] } }), (error: unknown) => error instanceof ConfigError && /scales must be a non-empty list of positive numbers, got \[\]/.test(error.message));
    const before = liveTensorCount();
    scope(() => {
      assert.throws(() => predictMasks(stub, randn([3, 8, 8])), (error: unknown) => error instanceof ShapeError &&
        /expected normalised float32 images \[B, 3, H, W\], got float32 \[3, 8, 8\]\. Add a batch dimension/.test(error.message));
      assert.throws(() => predictProbabilities(stub, randn([1, 3, 8, 8]), { scales: [0] }), (error: unknown) => error instanceof ConfigError && /got \[0\]/.test(error.message));
      const wrong = Object.assign(new ColourStub(CAR_AS_ROAD), { forwardAtInputSize: (images: Tensor) => randn([images.shape[0] as number, K, 4, 4]) });
      assert.throws(() => predictMasks(wrong, randn([1, 3, 8, 8])), (error: unknown) => error instanceof ShapeError &&
        /the model returned logits \[1, 4, 4, 4\] for images \[1, 3, 8, 8\], expected \[1, 4, 8, 8\]/.test(error.message));
    });
    assert.equal(liveTensorCount(), before, 'errors leak no tensor');
    const failing = Object.assign(new ColourStub(CAR_AS_ROAD), { forwardAtInputSize: () => { throw new ShapeError('no such size'); } });
    failing.train();
    // batch size 3: the first forward runs when c (another size) has arrived, so c is in hand when it fails
    await assert.rejects(evaluate(failing, MIXED, { batchSize: 3 }), (error: unknown) => error instanceof ShapeError && /no such size/.test(error.message));
    assert.equal(failing.training, true, 'the mode is restored after an error');
    assert.equal(liveTensorCount(), before, 'a failing evaluate leaks no tensor');
  });
});
