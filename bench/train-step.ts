/**
 * npm run bench -- train-step [steps] [warmup]: the engine benchmark (issue 2) and the ResNet-18
 * DeepLabV3+ benchmark (issue 5), contraseg (this process) vs PyTorch (child processes), 2 threads each,
 * in blocks ordered contraseg, PyTorch, PyTorch, contraseg so that a drift of the machine's load hits both alike.
 * 1. engine network, contraseg's default path; 2. the same with channels-last + BatchNorm folded for
 * inference (what libtorch offers that PyTorch's default path does not use); PyTorch on its defaults both
 * times; 3. ResNet-18 DeepLabV3+ OS 8. Last line: one JSON object; ratio = contraseg / PyTorch.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { setNumThreads } from '../src/torch/scope.js';
import { createContrasegSteps } from './lib/train-step-net.js';
import { createDeeplabSteps, DEEPLAB_BENCH } from './lib/deeplab.js';
import { compareWithPytorch, describe } from './lib/compare.js';
import { round } from './lib/paired.js';
import { requirePytorchReference } from './lib/pytorch-reference.js';

const THREADS = 2;
const STEPS = Number(process.argv[2] ?? 20);
const WARMUP = Number(process.argv[3] ?? 3);
// A 37 ms inference pass varies by +-5% from step to step here: 20 passes left the median ratio at
// 0.98-1.04 from run to run, 160 passes per side gave 0.980; 80 keep the run short.
const ENGINE = { trainSteps: STEPS, inferSteps: 4 * STEPS, warmup: WARMUP };
const DEEPLAB = { trainSteps: 10, inferSteps: 10, warmup: 2 };
const BATCH = 8;
const SIZE = 128;

// train_step.py needs torch; deeplab_step.py also torchvision (scripts/fixtures/reference_models.py).
requirePytorchReference(['torch', 'torchvision']);
const here = dirname(fileURLToPath(import.meta.url));
setNumThreads(THREADS);
const engineArgs = [THREADS, BATCH, SIZE];
const engine = await compareWithPytorch('engine', createContrasegSteps({ batch: BATCH, size: SIZE }), join(here, 'train_step.py'), engineArgs, ENGINE);
const contrasegRssMb = process.resourceUsage().maxRSS / 1024; // peak after the default path only
const fast = await compareWithPytorch('engine-fast', createContrasegSteps({ batch: BATCH, size: SIZE, channelsLast: true, fuseEval: true }),
  join(here, 'train_step.py'), engineArgs, ENGINE);
const { batch, size, classes } = DEEPLAB_BENCH;
const deeplab = await compareWithPytorch('deeplab', createDeeplabSteps(), join(here, 'deeplab_step.py'), [THREADS, batch, size, classes], DEEPLAB);

for (const line of describe('engine net', ENGINE, engine)) console.log(line);
for (const line of describe('engine net, channels-last + folded BN', ENGINE, fast)) console.log(line);
console.log(`engine net peak RSS: contraseg ${round(contrasegRssMb)} MB, PyTorch ${engine.pytorch_rss_mb} MB, ratio ${round(contrasegRssMb / engine.pytorch_rss_mb, 3)}`);
for (const line of describe('ResNet-18 DeepLabV3+ OS8', DEEPLAB, deeplab)) console.log(line);
console.log(JSON.stringify({
  bench: 'train-step', threads: THREADS, batch: [BATCH, 3, SIZE, SIZE], steps: STEPS, infer_steps: ENGINE.inferSteps,
  ...engine,
  contraseg_rss_mb: round(contrasegRssMb), rss_ratio: round(contrasegRssMb / engine.pytorch_rss_mb, 3),
  fast_ms: fast.contraseg_ms, fast_pytorch_ms: fast.pytorch_ms, fast_ratio: fast.ratio,
  fast_infer_ms: fast.contraseg_infer_ms, fast_infer_ratio: fast.infer_ratio,
  deeplab: { batch: [batch, 3, size, size], steps: DEEPLAB.trainSteps, ...deeplab },
}));
