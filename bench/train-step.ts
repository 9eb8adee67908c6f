/**
 * npm run bench -- train-step: the engine benchmark of issue 2. Times a training step and an inference
 * pass of the same network in contraseg (this process) and in PyTorch (a child process), same threads.
 * Last line: one JSON object with the figures; ratio = contraseg / PyTorch. Peak RSS of contraseg is read
 * after its default-path run, before the channels-last/fused run (fast_*), so both sides run the same work.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { setNumThreads } from '../src/torch/scope.js';
import { timeContrasegSteps } from './lib/train-step-net.js';

const THREADS = 2;
const STEPS = 20;
const WARMUP = 3;
const BATCH = 8;
const SIZE = 128;

const here = dirname(fileURLToPath(import.meta.url));
const pytorchOutput = execFileSync('/usr/bin/python3', [join(here, 'train_step.py'), ...[THREADS, STEPS, WARMUP, BATCH, SIZE].map(String)],
  { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
const pytorch = JSON.parse(pytorchOutput.trim().split('\n').pop() as string) as { train_ms: number; infer_ms: number; rss_mb: number };

setNumThreads(THREADS);
const contraseg = timeContrasegSteps({ steps: STEPS, warmup: WARMUP, batch: BATCH, size: SIZE });
const contrasegRssMb = process.resourceUsage().maxRSS / 1024;
// The stretch path: what libtorch offers that PyTorch's default path does not use.
const fast = timeContrasegSteps({ steps: STEPS, warmup: WARMUP, batch: BATCH, size: SIZE, channelsLast: true, fuseEval: true });

const result = {
  bench: 'train-step',
  threads: THREADS,
  batch: [BATCH, 3, SIZE, SIZE],
  contraseg_ms: round(contraseg.trainMs),
  pytorch_ms: round(pytorch.train_ms),
  ratio: round(contraseg.trainMs / pytorch.train_ms, 3),
  contraseg_infer_ms: round(contraseg.inferMs),
  pytorch_infer_ms: round(pytorch.infer_ms),
  infer_ratio: round(contraseg.inferMs / pytorch.infer_ms, 3),
  contraseg_rss_mb: round(contrasegRssMb),
  pytorch_rss_mb: round(pytorch.rss_mb),
  rss_ratio: round(contrasegRssMb / pytorch.rss_mb, 3),
  fast_ms: round(fast.trainMs),
  fast_ratio: round(fast.trainMs / pytorch.train_ms, 3),
  fast_infer_ms: round(fast.inferMs),
  fast_infer_ratio: round(fast.inferMs / pytorch.infer_ms, 3),
};
console.log(`train step (median of ${STEPS}): contraseg ${result.contraseg_ms} ms, PyTorch ${result.pytorch_ms} ms, ratio ${result.ratio}`);
console.log(`inference (median of ${STEPS}): contraseg ${result.contraseg_infer_ms} ms, PyTorch ${result.pytorch_infer_ms} ms, ratio ${result.infer_ratio}`);
console.log(`channels-last + fused eval: train ${result.fast_ms} ms (ratio ${result.fast_ratio}), inference ${result.fast_infer_ms} ms (ratio ${result.fast_infer_ratio})`);
console.log(`peak RSS: contraseg ${result.contraseg_rss_mb} MB, PyTorch ${result.pytorch_rss_mb} MB, ratio ${result.rss_ratio}`);
console.log(JSON.stringify(result));

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
