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

/** Compares `ours` (disposed at the end) with `script` started with `args`. */
export async function compareWithPytorch(label: string, ours: BenchSteps, script: string, args: (string | number)[],
  steps: number, warmup: number): Promise<Comparison> {
  const pytorch = await startPytorch(script, args);
  const train = ratios(await measureBlocks(label, ours.train, pytorch, 'train', steps, warmup));
  const infer = ratios(await measureBlocks(label, ours.infer, pytorch, 'infer', steps, warmup));
  const pytorchRss = (await pytorch.run('quit')).rss_mb;
  ours.dispose();
  return {
    contraseg_ms: round(train.contrasegMs), pytorch_ms: round(train.pytorchMs), ratio: round(train.ratio, 3),
    contraseg_infer_ms: round(infer.contrasegMs), pytorch_infer_ms: round(infer.pytorchMs), infer_ratio: round(infer.ratio, 3),
    pytorch_rss_mb: round(pytorchRss),
  };
}

/** One human-readable line per figure pair. */
export function describe(label: string, steps: number, c: Comparison): string[] {
  return [
    `${label} train step (median of ${steps}): contraseg ${c.contraseg_ms} ms, PyTorch ${c.pytorch_ms} ms, ratio ${c.ratio}`,
    `${label} inference (median of ${steps}): contraseg ${c.contraseg_infer_ms} ms, PyTorch ${c.pytorch_infer_ms} ms, ratio ${c.infer_ratio}`,
  ];
}
