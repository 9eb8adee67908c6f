/**
 * npm run bench -- loader: images per second of the pretraining loader on camvid_180x240 (two views,
 * 128x128 crops of scale-[0.5, 2] images, default distortions, batch 8, default workers) against the
 * rate at which the engine benchmark's training step consumes images (batch 8 x 3 x 128 x 128).
 * Requirement (issue 4): loader rate >= 2 x training rate. Last line: one JSON object with the figures.
 * Optional argument: the number of loader workers (default: the loader's own default).
 */
import { availableParallelism } from 'node:os';
import { DEFAULT_DISTORTIONS } from '../src/augment/photometric.js';
import { sharedDataFolder } from '../src/data/fixtures.js';
import { createLoader } from '../src/data/loader.js';
import { openDataset } from '../src/data/open-dataset.js';
import { getNumThreads } from '../src/torch/scope.js';
import { medianContrasegTrainStepMs } from './lib/train-step-net.js';

const BATCH = 8;
const CROP = 128;
const EPOCHS = 2;

const root = sharedDataFolder('camvid_180x240');
if (root === undefined) {
  console.error('bench loader: camvid_180x240 not found in ../shared/data (set CONTRASEG_DATA to the folder holding it)');
  process.exit(2);
}
const workersArgument = process.argv[2] === undefined ? undefined : Number(process.argv[2]);

const dataset = await openDataset({ kind: 'camvid', root, split: 'train' });
const loader = createLoader(dataset, {
  batchSize: BATCH,
  seed: 0,
  augment: { scale: [0.5, 2.0], crop: { width: CROP, height: CROP }, flipProbability: 0.5 },
  views: { kind: 'pair', distortions: DEFAULT_DISTORTIONS },
  workers: workersArgument,
});

// Steady state: the clock starts when the first batch arrives (worker start-up excluded, reported apart).
const start = performance.now();
let firstBatchMs = 0;
let steadyStart = 0;
let steadyImages = 0;
for (let epoch = 0; epoch < EPOCHS; epoch++) {
  for await (const batch of loader.epoch(epoch)) {
    if (steadyStart === 0) {
      firstBatchMs = performance.now() - start;
      steadyStart = performance.now();
    } else {
      steadyImages += batch.ids.length;
    }
    batch.dispose();
  }
}
const steadySeconds = (performance.now() - steadyStart) / 1000;
await loader.dispose();

const stepMs = await medianContrasegTrainStepMs({ steps: 10, warmup: 2 });
const loaderRate = steadyImages / steadySeconds;
const trainRate = BATCH / (stepMs / 1000);
const ratio = loaderRate / trainRate;
const result = {
  bench: 'loader',
  dataset: 'camvid_180x240 train',
  batch: BATCH,
  crop: CROP,
  views: 2,
  workers: workersArgument ?? Math.max(1, Math.min(4, availableParallelism() - 1)),
  cores: availableParallelism(),
  torch_threads: getNumThreads(),
  loader_images_per_s: round(loaderRate),
  first_batch_ms: round(firstBatchMs),
  train_step_ms: round(stepMs),
  train_images_per_s: round(trainRate),
  ratio: round(ratio, 2),
  required_ratio: 2,
  pass: ratio >= 2,
};
console.log(`loader: ${result.loader_images_per_s} images/s (2 views of ${CROP}x${CROP}, batch ${BATCH}, ${result.workers} worker(s), ` +
  `${steadyImages} images after the first batch; first batch after ${result.first_batch_ms} ms)`);
console.log(`training: ${result.train_step_ms} ms per step of ${BATCH} images = ${result.train_images_per_s} images/s (${result.torch_threads} torch threads)`);
console.log(`ratio loader / training = ${result.ratio} (required >= 2): ${result.pass ? 'PASS' : 'FAIL'}`);
console.log(JSON.stringify(result));

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
