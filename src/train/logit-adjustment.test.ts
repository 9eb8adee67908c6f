/**
 * Logit adjustment: the offsets against hand values, the class counts against hand-made masks, the
 * classifier's eval-only offset against a hand-computed 1x1 convolution, and a run trained with tau = 1
 * against the same run trained with tau = 0 and adjusted afterwards.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { blockLabels, temporaryFolder, writeCamVidFixture, writeTinyCamVid } from '../data/fixtures.js';
import { openDataset } from '../data/open-dataset.js';
import { evaluate } from '../eval/evaluate.js';
import { CheckpointError, ConfigError } from '../errors.js';
import { Classifier } from '../models/heads.js';
import { manualSeed, randn, tensor } from '../torch/creation.js';
import { liveTensorCount, noGrad, scope } from '../torch/scope.js';
import { readCheckpoint, saveCheckpoint } from './checkpoint.js';
import { parseRunConfig } from './config.js';
import { loadTrainedModel, openTrainedModel } from './load-model.js';
import { classPixels, logitOffsets, recordedLogitAdjustment } from './logit-adjustment.js';
import { readMetrics } from './run-dir.js';
import { runTraining } from './run.js';

const folder = await temporaryFolder('contraseg-logit-');
after(() => folder.remove());

test('offsets are -tau log(share), a class without pixels counts one, and tau 0 or no pixels give zeros', () => {
  const offsets = logitOffsets({ tau: 1, pixels: [6, 3, 1, 0] }); // total 10
  [-Math.log(0.6), -Math.log(0.3), -Math.log(0.1), -Math.log(0.1)].forEach((expected, c) => assert.ok(Math.abs((offsets[c] as number) - expected) < 1e-12));
  assert.ok(Math.abs((logitOffsets({ tau: 0.5, pixels: [1, 3] })[1] as number) + 0.5 * Math.log(0.75)) < 1e-12);
  assert.deepEqual(logitOffsets({ tau: 0, pixels: [6, 3] }), [0, 0]);
  assert.deepEqual(logitOffsets({ tau: 1, pixels: [0, 0] }), [0, 0]);
});

test('a checkpoint record is read back, absent gives null, and a malformed one is a CheckpointError', () => {
  assert.deepEqual(recordedLogitAdjustment({ logitAdjustment: { tau: 1, pixels: [4, 0] } }, 2, 'f'), { tau: 1, pixels: [4, 0] });
  assert.equal(recordedLogitAdjustment({}, 2, 'f'), null);
  for (const bad of [null, 'x', [], { tau: -1, pixels: [1, 1] }, { tau: 11, pixels: [1, 1] }, { tau: 1, pixels: [1e300, 1] }, { tau: 1, pixels: [1] }, { tau: 1, pixels: [1.5, 1] }, { pixels: [1, 1] }]) {
    assert.throws(() => recordedLogitAdjustment({ logitAdjustment: bad }, 2, 'f'), CheckpointError);
  }
});

test('class pixels are counted at full resolution with void left out (hand-counted masks)', async () => {
  const root = join(folder.path, 'counts');
  // 4x2 and 2x2 masks. CamVid's void (11) is the ignore label.
  await writeCamVidFixture(root, {
    train: [
      { id: 'a', width: 4, height: 2, stored: Uint8Array.of(0, 0, 2, 11, 2, 2, 0, 11) },
      { id: 'b', width: 2, height: 2, stored: Uint8Array.of(10, 0, 11, 11) },
    ],
  });
  const counts = await classPixels(await openDataset({ kind: 'camvid', root, split: 'train' }));
  assert.deepEqual(counts, [4, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1]);
});

test('the classifier adds the offset in eval mode only, as a hand-computed 1x1 convolution says', () => {
  const before = liveTensorCount();
  const classifier = new Classifier(2, 3);
  // logits[c] = w[c, 0] x0 + w[c, 1] x1 + b[c]
  const weight = [1, 2, -1, 0.5, 0, 3];
  const bias = [0.25, -1, 2];
  const state = new Map([['conv.weight', tensor(weight, [3, 2, 1, 1])], ['conv.bias', tensor(bias, [3])]]);
  classifier.loadStateDict(state);
  for (const value of state.values()) value.dispose();
  const x = [[1, -2], [0.5, 4]]; // two pixels (w = 2), channels x0, x1
  const features = tensor([x[0]![0]!, x[1]![0]!, x[0]![1]!, x[1]![1]!], [1, 2, 1, 2]);
  const plain = (c: number, p: number): number => weight[2 * c]! * x[p]![0]! + weight[2 * c + 1]! * x[p]![1]! + bias[c]!;
  const offset = [-0.5, 1.25, 3];
  classifier.setLogitOffset(offset);
  const read = (): number[] => noGrad(() => scope(() => [...(classifier.forward(features).toTypedArray() as Float32Array)]));
  const expected = (withOffset: boolean): number[] => [0, 1, 2].flatMap((c) => [0, 1].map((p) => plain(c, p) + (withOffset ? offset[c]! : 0)));
  classifier.train();
  assert.deepEqual(read(), expected(false)); // small integers and halves: exact in float32
  classifier.eval();
  assert.deepEqual(read(), expected(true));
  assert.deepEqual(classifier.logitOffset, offset);
  classifier.setLogitOffset(null);
  assert.deepEqual(read(), expected(false));
  assert.throws(() => classifier.setLogitOffset([1, 2]), ConfigError);
  assert.throws(() => classifier.setLogitOffset([1, 2, Number.NaN]), ConfigError);
  features.dispose();
  classifier.dispose();
  assert.equal(liveTensorCount(), before);
});

test('a run with finetune.logitAdjustment 1 trains exactly as with 0 and evaluates as that run adjusted afterwards', async () => {
  const root = join(folder.path, 'camvid');
  await writeTinyCamVid(root, { val: 2 });
  const config = (tau: number) => parseRunConfig({
    method: 'ce', seed: 3, batchSize: 4, logEvery: 1, checkpointEvery: 2,
    data: { kind: 'camvid', root, labelled: { count: 3 }, crop: { height: 32, width: 32 }, workers: 1 },
    model: { widthMultiplier: 0.0625 },
    pretrain: { steps: 2 }, finetune: { steps: 3, optimizer: { kind: 'sgd', lr: 0.05 }, logitAdjustment: tau },
    eval: { every: 0 },
  });
  const plainDir = join(folder.path, 'tau0');
  const adjustedDir = join(folder.path, 'tau1');
  await runTraining({ config: config(0), runDir: plainDir, resume: false, stages: 'both' });
  const adjustedRun = await runTraining({ config: config(1), runDir: adjustedDir, resume: false, stages: 'both' });
  const losses = (dir: string) => readMetrics(dir).filter((record) => record.kind === 'step').map((record) => record.loss);
  assert.deepEqual(losses(adjustedDir), losses(plainDir)); // training never sees the offsets

  // The recorded counts against the fixture's own label maps (blocks of 0, 3, 5, 8 and void) of the labelled ids.
  const checkpoint = readCheckpoint(adjustedDir, { name: 'finetune' });
  const expected = new Array<number>(11).fill(0);
  for (const id of checkpoint.meta.splitIds) {
    for (const value of blockLabels(40, 30, [0, 3, 5, 8, 11], Number(id.slice(1)))) if (value < 11) expected[value]!++;
  }
  assert.deepEqual(checkpoint.meta.metrics.logitAdjustment, { tau: 1, pixels: expected });
  checkpoint.dispose();

  const plain = loadTrainedModel(plainDir);
  const overridden = loadTrainedModel(plainDir, 'finetune', { logitAdjustment: 1 });
  const own = loadTrainedModel(adjustedDir);
  assert.equal(plain.logitAdjustment?.tau, 0);
  assert.equal(own.logitAdjustment?.tau, 1);
  try {
    // Logits: the plain model's minus log(share) per class. The offsets are added at stride 4 (float32) and resized with
    // the logits; the plain path resizes the logits alone and the offsets are subtracted here in float64. A bilinear
    // resize is two linear interpolations of weights in [0, 1], each within 3u of the largest magnitude M involved
    // (u = 2^-24), so each path is within 7u M of exact (the offset's own add and float32 rounding included) and the
    // two differ by at most 16u M, M = max |stride-4 logit| + max |offset| (the resize's inputs bound its outputs).
    const total = expected.reduce((sum, count) => sum + count, 0);
    manualSeed(0);
    noGrad(() => scope(() => {
      const images = randn([1, 3, 29, 37]);
      const base = plain.model.forwardAtInputSize(images).toTypedArray() as Float32Array;
      const shifted = overridden.model.forwardAtInputSize(images).toTypedArray() as Float32Array;
      const trained = own.model.forwardAtInputSize(images).toTypedArray() as Float32Array;
      const pixels = 29 * 37;
      const offsets = expected.map((count) => -Math.log(Math.max(count, 1) / total));
      const stride4 = plain.model.forward(images).toTypedArray() as Float32Array;
      const magnitude = stride4.reduce((max, value) => Math.max(max, Math.abs(value)), 0) + Math.max(...offsets.map(Math.abs));
      const bound = 16 * 2 ** -24 * magnitude;
      let worst = 0;
      for (let i = 0; i < base.length; i++) {
        worst = Math.max(worst, Math.abs((shifted[i] as number) - ((base[i] as number) + (offsets[Math.floor(i / pixels)] as number))));
      }
      assert.ok(worst <= bound, `largest difference ${worst}, bound ${bound} (M = ${magnitude})`);
      assert.ok(Math.max(...offsets) > 1e4 * bound, 'the offsets are far above the bound, so a dropped offset fails');
      assert.deepEqual(trained, shifted); // same weights, same offsets, same arithmetic
    }));
    // The run's own test figures are those of the plain run's model with the adjustment applied afterwards.
    const testSet = await openDataset({ kind: 'camvid', root, split: 'test' });
    const test = await evaluate(overridden.model, testSet, { workers: 0 });
    assert.deepEqual(adjustedRun.test?.confusion, test.confusion);

    // A checkpoint written before the counts were recorded: loadTrainedModel refuses a tau > 0, openTrainedModel
    // counts them from the run's labelled images and gives the same model.
    const oldDir = join(folder.path, 'old');
    const source = readCheckpoint(plainDir, { name: 'finetune' });
    saveCheckpoint(oldDir, 'finetune', { model: plain.model, step: source.meta.step, stage: 'finetune', loaderPosition: source.meta.loaderPosition,
      config: source.meta.config, splitIds: source.meta.splitIds, metrics: { classes: source.meta.metrics.classes } });
    source.dispose();
    assert.throws(() => loadTrainedModel(oldDir, 'finetune', { logitAdjustment: 1 }), (error: unknown) => error instanceof CheckpointError && /count them/.test(error.message));
    const unadjusted = loadTrainedModel(oldDir);
    assert.equal(unadjusted.logitAdjustment, null);
    unadjusted.model.dispose();
    const counted = await openTrainedModel(oldDir, 'finetune', { logitAdjustment: 1 });
    try {
      assert.deepEqual(counted.logitAdjustment, { tau: 1, pixels: expected });
      assert.deepEqual((await evaluate(counted.model, testSet, { workers: 0 })).confusion, test.confusion);
    } finally {
      counted.model.dispose();
    }
  } finally {
    for (const trained of [plain, overridden, own]) trained.model.dispose();
  }
  assert.throws(() => loadTrainedModel(plainDir, 'finetune', { logitAdjustment: -1 }), ConfigError);
});
