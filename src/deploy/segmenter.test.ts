/**
 * load() / segment() / dispose(): masks equal libtorch's argmax for every accepted image form, logits on
 * request, no leak over 100 calls, typed errors for bad models and bad images.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import sharp from 'sharp';
import { IMAGENET_MEAN, IMAGENET_STD, normalisedChw } from '../data/batch.js';
import { CheckpointError, ConfigError, DatasetError, ShapeError } from '../errors.js';
import type { Classifier } from '../models/heads.js';
import type { SegmentationModel } from '../models/segmentation-model.js';
import { predictMasks } from '../eval/predict.js';
import { tensor } from '../torch/creation.js';
import { liveTensorCount, noGrad, scope } from '../torch/scope.js';
import { exportOnnx } from './export.js';
import { OnnxGraphBuilder } from './onnx-graph.js';
import { classTable, perturbedModel } from './parity-fixture.js';
import { argmaxChannels, load, type Segmenter } from './segmenter.js';

const NUM_CLASSES = 4;
const HEIGHT = 37;
const WIDTH = 53;
const temp = mkdtempSync(join(tmpdir(), 'contraseg-segmenter-'));
const modelFile = join(temp, 'model.onnx');
let model: SegmentationModel<Classifier>;
let segmenter: Segmenter;

/** Deterministic RGB noise with some structure (so classes vary across the image). */
function rgbImage(width: number, height: number, seed: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  let state = seed >>> 0;
  for (let index = 0; index < data.length; index++) {
    state = (state * 1664525 + 1013904223) >>> 0;
    data[index] = ((state >>> 24) + ((index / 3) % width) * 3) & 255;
  }
  return data;
}

/** libtorch's mask and logits for the same pixels, normalised the same way. */
function libtorchPrediction(data: Uint8Array, width: number, height: number): { mask: Uint8Array; logits: Float32Array } {
  return noGrad(() => scope(() => {
    const images = tensor(normalisedChw(data, width, height, IMAGENET_MEAN, IMAGENET_STD), [1, 3, height, width]);
    const logits = model.forwardAtInputSize(images).toTypedArray() as Float32Array; // [1, C, H, W]
    return { mask: argmaxChannels(logits, NUM_CLASSES, width * height), logits };
  }));
}

function agreement(a: Uint8Array, b: Uint8Array): number {
  let same = 0;
  for (let index = 0; index < a.length; index++) if (a[index] === b[index]) same++;
  return same / a.length;
}

before(async () => {
  model = perturbedModel('resnet18', 16, 0.125, NUM_CLASSES, 7);
  writeFileSync(modelFile, exportOnnx(model, { ...classTable(NUM_CLASSES), mean: IMAGENET_MEAN, std: IMAGENET_STD }));
  segmenter = await load(modelFile, { threads: 1 });
});
after(async () => {
  await segmenter?.dispose();
  model?.dispose();
  rmSync(temp, { recursive: true, force: true });
});

describe('segment()', () => {
  const data = rgbImage(WIDTH, HEIGHT, 1);

  it('gives libtorch\'s mask (>= 99.9% of pixels) and logits (within 1e-4) for RGB pixels', async () => {
    const expected = libtorchPrediction(data, WIDTH, HEIGHT);
    const result = await segmenter.segment({ data, width: WIDTH, height: HEIGHT }, { logits: true });
    assert.equal(result.width, WIDTH);
    assert.equal(result.height, HEIGHT);
    assert.equal(result.mask.length, WIDTH * HEIGHT);
    assert.ok(new Set(result.mask).size >= 2, 'the test image should produce more than one class');
    assert.ok(agreement(result.mask, expected.mask) >= 0.999);
    const logits = result.logits as Float32Array;
    assert.equal(logits.length, NUM_CLASSES * WIDTH * HEIGHT);
    let maxDifference = 0;
    for (let index = 0; index < logits.length; index++) maxDifference = Math.max(maxDifference, Math.abs((logits[index] as number) - (expected.logits[index] as number)));
    assert.ok(maxDifference <= 1e-4, `max |logit difference| ${maxDifference}`); // the argument is in export.test.ts
    assert.deepEqual(result.classNames, classTable(NUM_CLASSES).classNames);
    assert.deepEqual(result.colours, classTable(NUM_CLASSES).colours);
  });

  it('gives the same mask for PNG bytes (a Buffer), a PNG file path and the pixels; no logits unless asked', async () => {
    const png = await sharp(Buffer.from(data), { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).png().toBuffer();
    const file = join(temp, 'image.png');
    writeFileSync(file, png);
    const fromPixels = await segmenter.segment({ data, width: WIDTH, height: HEIGHT });
    const fromBytes = await segmenter.segment(png);
    const fromFile = await segmenter.segment(file);
    assert.deepEqual(fromBytes.mask, fromPixels.mask);
    assert.deepEqual(fromFile.mask, fromPixels.mask);
    assert.equal(fromFile.logits, undefined);
  });

  it('flip: the mask of predictMasks(model, images, { flip: true }) (>= 99.9% of pixels), logits = log of the averaged probabilities', async () => {
    const [width, height] = [61, 45];
    const pixels = rgbImage(width, height, 9);
    const expected = noGrad(() => scope(() => {
      const images = tensor(normalisedChw(pixels, width, height, IMAGENET_MEAN, IMAGENET_STD), [1, 3, height, width]);
      return Uint8Array.from(predictMasks(model, images, { flip: true }).toTypedArray() as BigInt64Array, Number); // [1, H, W]
    }));
    const flipped = await segmenter.segment({ data: pixels, width, height }, { flip: true, logits: true });
    const plain = await segmenter.segment({ data: pixels, width, height });
    assert.ok(agreement(flipped.mask, expected) >= 0.999);
    assert.ok(agreement(flipped.mask, plain.mask) < 1, 'flipping should change some pixels of this image, or the test shows nothing');
    const logits = flipped.logits as Float32Array;
    for (const pixel of [0, 1234, width * height - 1]) { // probabilities of a pixel sum to 1
      let sum = 0;
      for (let channel = 0; channel < NUM_CLASSES; channel++) sum += Math.exp(logits[channel * width * height + pixel] as number);
      assert.ok(Math.abs(sum - 1) < 1e-5, `pixel ${pixel}: probabilities sum to ${sum}`);
    }
  });

  it('segments any size, including 1x1 and sizes no stride divides', async () => {
    for (const [width, height] of [[1, 1], [5, 3], [131, 97]] as const) {
      const pixels = rgbImage(width, height, width);
      const result = await segmenter.segment({ data: pixels, width, height });
      assert.ok(agreement(result.mask, libtorchPrediction(pixels, width, height).mask) >= 0.999, `${width}x${height}`);
    }
  });

  it('does not leak: liveTensorCount unchanged and RSS flat over 100 calls', async (t) => {
    const gc = (() => { setFlagsFromString('--expose-gc'); return runInNewContext('gc') as () => void; })();
    const [width, height] = [240, 180];
    const image = { data: rgbImage(width, height, 3), width, height };
    const tensorsBefore = liveTensorCount();
    for (let call = 0; call < 100; call++) await segmenter.segment(image, { logits: true }); // warm-up: allocator, session arenas
    gc();
    const rssBefore = process.memoryUsage().rss;
    for (let call = 0; call < 100; call++) await segmenter.segment(image, { logits: true });
    gc();
    const growth = process.memoryUsage().rss - rssBefore;
    t.diagnostic(`RSS growth over 100 calls: ${(growth / 2 ** 20).toFixed(2)} MB`);
    assert.equal(liveTensorCount(), tensorsBefore);
    // Per call: a 518 kB normalised input, 691 kB of logits (and their copy), onnxruntime's activations.
    // Keeping the input or the logits of each call would add >= 50 MB over 100 calls; allow half of that
    // for allocator and arena noise, which was 2-9 MB across machines after a 20-call warm-up (now 100).
    assert.ok(growth < 25 * 2 ** 20, `RSS grew by ${(growth / 2 ** 20).toFixed(2)} MB over 100 calls`);
  });

  it('rejects non-image bytes with a DatasetError and inconsistent pixels with a ShapeError', async () => {
    await assert.rejects(segmenter.segment(Buffer.from('not an image at all')),
      (error: unknown) => error instanceof DatasetError && /cannot decode image/.test(error.message));
    await assert.rejects(segmenter.segment(join(temp, 'missing.png')),
      (error: unknown) => error instanceof DatasetError && /missing\.png/.test(error.message) && /not found/.test(error.message));
    await assert.rejects(segmenter.segment({ data: new Uint8Array(10), width: 4, height: 4 }),
      (error: unknown) => error instanceof ShapeError && /width \* height \* 3/.test(error.message) && /10 bytes for 4x4/.test(error.message));
  });
});

describe('load()', () => {
  const expectCheckpointError = (pattern: RegExp) => (error: unknown) => {
    assert.ok(error instanceof CheckpointError, `expected a CheckpointError, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  };

  it('reads the metadata: class table, ImageNet normalisation, output stride, version', () => {
    assert.deepEqual(segmenter.metadata.classNames, classTable(NUM_CLASSES).classNames);
    assert.deepEqual(segmenter.metadata.mean, IMAGENET_MEAN);
    assert.deepEqual(segmenter.metadata.std, IMAGENET_STD);
    assert.equal(segmenter.metadata.outputStride, 16);
    assert.match(segmenter.metadata.version, /^\d+\.\d+\.\d+/);
  });

  it('rejects a missing file, garbage, a truncated model and a foreign ONNX model with CheckpointErrors naming the file', async () => {
    const missing = join(temp, 'nope.onnx');
    await assert.rejects(load(missing), expectCheckpointError(/nope\.onnx: ONNX model file not found; create one with: contraseg export/));
    const garbage = join(temp, 'garbage.onnx');
    writeFileSync(garbage, 'this is not a protobuf \u0000\u0001\u0002');
    await assert.rejects(load(garbage), expectCheckpointError(/garbage\.onnx: not an ONNX model/));
    const bytes = exportOnnx(model, { ...classTable(NUM_CLASSES), mean: IMAGENET_MEAN, std: IMAGENET_STD });
    const truncated = join(temp, 'truncated.onnx');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(load(truncated), expectCheckpointError(/truncated\.onnx: not an ONNX model/));
    const foreign = new OnnxGraphBuilder();
    foreign.addOutput(foreign.addInput('image', ['N', 3, 'H', 'W']), 'logits', ['N', 3, 'H', 'W']);
    const foreignBytes = foreign.toModel({ graphName: 'identity', producerVersion: '0', docString: '', metadata: {} });
    await assert.rejects(load(foreignBytes), expectCheckpointError(/the ONNX model bytes: the ONNX model has no metadata 'contraseg\.classNames'/));
  });

  it('rejects bad threads with a ConfigError; segment after dispose is a ConfigError; dispose is idempotent', async () => {
    await assert.rejects(load(modelFile, { threads: 0 }), ConfigError);
    const second = await load(modelFile, { threads: 1 });
    await second.dispose();
    await second.dispose();
    await assert.rejects(second.segment({ data: new Uint8Array(3), width: 1, height: 1 }),
      (error: unknown) => error instanceof ConfigError && /disposed/.test(error.message));
  });
});
