/**
 * The feature probe on planted features whose answers are known by construction, then on a trained
 * tiny run (plumbing: checkpoints of both stages, the split it records).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openCamVid } from '../data/camvid.js';
import { fixtureImage, temporaryFolder, writeCamVidFixture, type FixtureImage } from '../data/fixtures.js';
import { zeros } from '../torch/creation.js';
import { interpolate } from '../torch/ops/functional.js';
import { liveTensorCount } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { parseRunConfig } from './config.js';
import { probeFeatures, probeRun, PROBED_FEATURES } from './feature-probe.js';
import { runTraining } from './run.js';

const VOID = 11; // CamVid's void: the ignore label
const folder = await temporaryFolder('contraseg-probe-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
const image = (id: string, offset: number): FixtureImage => fixtureImage(id, 40, 32, [0, 3, 5, 8, VOID], offset);
const train = [image('t0', 0), image('t1', 1), image('t2', 2), image('t3', 3)];
const val = [image('v0', 4), image('v1', 6)];
await writeCamVidFixture(root, { train, val, test: [image('x0', 2)] });
const [trainSet, valSet] = [await openCamVid(root, 'train'), await openCamVid(root, 'val')];

/** Labelled pixels and class-0 pixels of fixture images, counted from the stored masks. */
function counts(images: readonly FixtureImage[]): { labelled: number; classZero: number } {
  const stored = images.flatMap((fixture) => [...fixture.stored]);
  return { labelled: stored.filter((value) => value !== VOID).length, classZero: stored.filter((value) => value === 0).length };
}

test('features that are the pixel colours (one colour per class) separate every class, at stride 1 and at stride 4', async () => {
  const before = liveTensorCount();
  for (const embed of [(images: Tensor) => images.clone(), (images: Tensor) => interpolate(images, [8, 10], 'nearest')]) {
    const scores = await probeFeatures(embed, trainSet, valSet);
    for (const metrics of [scores.train, scores.trainPerImage, scores.val]) {
      assert.equal(metrics?.meanIoU, 1);
      assert.equal(metrics?.pixelAccuracy, 1);
    }
  }
  const atStride1 = await probeFeatures((images) => images.clone(), trainSet, valSet);
  assert.equal(atStride1.train.pixels, counts(train).labelled);
  assert.equal(atStride1.val?.pixels, counts(val).labelled);
  assert.equal(atStride1.prototypePixels.reduce((sum, count) => sum + count, 0), counts(train).labelled);
  assert.equal(liveTensorCount(), before);
});

test('features that carry no information put every pixel in the first class with a prototype', async () => {
  // Equal rows give equal prototypes; the tie goes to the lowest class id present, 0 (Sky), so pixel
  // accuracy is class 0's share of the labelled pixels.
  const flat = (images: Tensor) => zeros([1, 4, images.shape[2] as number, images.shape[3] as number]).add(1);
  const scores = await probeFeatures(flat, trainSet, valSet);
  assert.equal(scores.train.pixelAccuracy, counts(train).classZero / counts(train).labelled);
  assert.equal(scores.val?.pixelAccuracy, counts(val).classZero / counts(val).labelled);
  assert.ok((scores.val?.meanIoU ?? 1) < 0.25);
});

test('a trained run is probed on the labelled images its checkpoints record, for each kind of features', async () => {
  const runDir = join(folder.path, 'run');
  const config = parseRunConfig({
    seed: 3, batchSize: 2, logEvery: 1, checkpointEvery: 2,
    data: { kind: 'camvid', root, labelled: { count: 2 }, crop: { height: 32, width: 32 }, workers: 1 },
    model: { widthMultiplier: 0.0625 },
    pretrain: { steps: 2, optimizer: { kind: 'sgd', lr: 0.05 } },
    finetune: { steps: 2, optimizer: { kind: 'sgd', lr: 0.02 } },
    eval: { every: 0, test: false },
  });
  await runTraining({ config, runDir, resume: false, stages: 'both' });
  const before = liveTensorCount();
  for (const features of PROBED_FEATURES) {
    const result = await probeRun(runDir, features);
    assert.equal(result.step, 2, features);
    assert.match(result.file, features === 'finetune-decoder' ? /finetune-/ : /pretrain-/);
    // Two of the four train images are labelled: at stride 4 about half of the four images' labelled
    // pixels / 16 (each image's void share is about the same), far from all of them.
    const total = result.prototypePixels.reduce((sum, count) => sum + count, 0);
    assert.equal(result.train.pixels, total);
    const allFour = counts(train).labelled / 16;
    assert.ok(total > 0.3 * allFour && total < 0.75 * allFour, `${features}: ${total} of ${allFour}`);
    assert.ok(result.val !== null && Number.isFinite(result.val.meanIoU));
  }
  assert.equal(liveTensorCount(), before);
});
