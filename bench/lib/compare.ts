/** Runs one contraseg setup against a PyTorch step server: train steps, then inference passes. */
import { measureBlocks, ratios, round, startPytorch } from './paired.js';
import type { BenchSteps } from './train-step-net.js';

/** Figures of one comparison (ms; ratio = contraseg / PyTorch). */
export interface Comparison {
  contraseg_ms: number;
  pytorch_ms: number;
  ratio: number;
  contraseg_infer_ms: number;
  pytorch_infer_ms: number;
  infer_ratio: number;
  pytorch_rss_mb: number;
}

/** Timed steps per side (split over two blocks) and untimed warm-up steps per block. */
export interface StepCounts {
  trainSteps: number;
  /** Inference passes are short and noisier: time more of them. */
  inferSteps: number;
  warmup: number;
}

/** Compares `ours` (disposed at the end) with `script` started with `args`. */
export async function compareWithPytorch(label: string, ours: BenchSteps, script: string, args: (string | number)[],
  counts: StepCounts): Promise<Comparison> {
  const { trainSteps, inferSteps, warmup } = counts;
  const pytorch = await startPytorch(script, args);
  const train = ratios(await measureBlocks(label, ours.train, pytorch, 'train', trainSteps, warmup));
  const infer = ratios(await measureBlocks(label, ours.infer, pytorch, 'infer', inferSteps, warmup));
  const pytorchRss = (await pytorch.run('quit')).rss_mb;
  ours.dispose();
  return {
    contraseg_ms: round(train.contrasegMs), pytorch_ms: round(train.pytorchMs), ratio: round(train.ratio, 3),
    contraseg_infer_ms: round(infer.contrasegMs), pytorch_infer_ms: round(infer.pytorchMs), infer_ratio: round(infer.ratio, 3),
    pytorch_rss_mb: round(pytorchRss),
  };
}

/** One human-readable line per figure pair. */
export function describe(label: string, counts: StepCounts, c: Comparison): string[] {
  return [
    `${label} train step (median of ${counts.trainSteps}): contraseg ${c.contraseg_ms} ms, PyTorch ${c.pytorch_ms} ms, ratio ${c.ratio}`,
    `${label} inference (median of ${counts.inferSteps}): contraseg ${c.contraseg_infer_ms} ms, PyTorch ${c.pytorch_infer_ms} ms, ratio ${c.infer_ratio}`,
  ];
}
