/**
 * npm run bench -- deeplab-step [steps] [warmup]: issue 5's benchmark alone (also part of train-step).
 * Last line: one JSON object; ratio = contraseg / PyTorch.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { setNumThreads } from '../src/torch/scope.js';
import { createDeeplabSteps, DEEPLAB_BENCH } from './lib/deeplab.js';
import { compareWithPytorch, describe } from './lib/compare.js';
import { round } from './lib/paired.js';
import { requirePytorchReference } from './lib/pytorch-reference.js';

const THREADS = 2;
const STEPS = Number(process.argv[2] ?? 10);
const WARMUP = Number(process.argv[3] ?? 2);
const COUNTS = { trainSteps: STEPS, inferSteps: STEPS, warmup: WARMUP };

requirePytorchReference(['torch', 'torchvision']); // deeplab_step.py builds scripts/fixtures/reference_models.py
setNumThreads(THREADS);
const { batch, size, classes } = DEEPLAB_BENCH;
const script = join(dirname(fileURLToPath(import.meta.url)), 'deeplab_step.py');
const result = await compareWithPytorch('deeplab', createDeeplabSteps(), script, [THREADS, batch, size, classes], COUNTS);
for (const line of describe('ResNet-18 DeepLabV3+ OS8', COUNTS, result)) console.log(line);
console.log(JSON.stringify({ bench: 'deeplab-step', threads: THREADS, batch: [batch, 3, size, size], steps: STEPS, ...result,
  contraseg_rss_mb: round(process.resourceUsage().maxRSS / 1024) }));
