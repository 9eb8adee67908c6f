/**
 * npm run bench -- deeplab-step [steps] [warmup]: issue 5's benchmark. ResNet-18 DeepLabV3+ (OS 8) with a
 * 21-class classifier, batch 4 x 3 x 256 x 256: a training step (logits resized to the input,
 * cross-entropy ignore 255, SGD momentum 0.9) and an inference pass, contraseg (this process) vs
 * PyTorch (bench/deeplab_step.py, a child process), 2 threads each, OPENBLAS_NUM_THREADS=1.
 * The two sides alternate step by step, so load from other processes hits both alike.
 * Prints both medians and ratios; the last line is one JSON object; ratio = contraseg / PyTorch.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { keep, noGrad, scope, setNumThreads } from '../src/torch/scope.js';
import { manualSeed, randint, randn } from '../src/torch/creation.js';
import { crossEntropy } from '../src/torch/ops/functional.js';
import { SGD } from '../src/torch/optim/sgd.js';
import { buildSegmentationModel } from '../src/models/build.js';

const THREADS = 2;
const BATCH = 4;
const SIZE = 256;
const CLASSES = 21;
const STEPS = Number(process.argv[2] ?? 10);
const WARMUP = Number(process.argv[3] ?? 2);

/** A PyTorch child that runs one step per command and answers with its time. */
async function startPytorch(): Promise<{ run(command: string): Promise<Record<string, number>> }> {
  const here = dirname(fileURLToPath(import.meta.url));
  const child = spawn('/usr/bin/python3', [join(here, 'deeplab_step.py'), ...[THREADS, BATCH, SIZE, CLASSES].map(String)],
    { env: { ...process.env, OPENBLAS_NUM_THREADS: '1' }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, number>> => {
    const line = await lines.next();
    if (line.done === true) throw new Error('bench/deeplab_step.py exited early');
    return JSON.parse(line.value) as Record<string, number>;
  };
  await next(); // ready
  return {
    async run(command: string) {
      child.stdin.write(`${command}\n`);
      return next();
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function pairedRatios(ours: number[], theirs: number[]): number[] {
  return ours.map((value, index) => value / theirs[index]);
}

function round(value: number, digits = 1): number {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}

async function main(): Promise<void> {
  setNumThreads(THREADS);
  const pytorch = await startPytorch();
  manualSeed(0);
  const model = buildSegmentationModel({
    network: { backbone: { kind: 'resnet18', outputStride: 8 } }, head: { kind: 'classifier', numClasses: CLASSES },
  });
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const images = keep(randn([BATCH, 3, SIZE, SIZE]));
  const labels = keep(randint(0, CLASSES, [BATCH, SIZE, SIZE]));
  const contraseg: Record<string, () => void> = {
    train: () => scope(() => {
      model.train();
      const loss = crossEntropy(model.forwardAtInputSize(images), labels, { ignoreIndex: 255 });
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
    }),
    infer: () => noGrad(() => scope(() => {
      model.eval();
      model.forwardAtInputSize(images);
    })),
  };
  const times = { contraseg: { train: [] as number[], infer: [] as number[] }, pytorch: { train: [] as number[], infer: [] as number[] } };
  for (const command of ['train', 'infer'] as const) {
    for (let step = 0; step < WARMUP + STEPS; step++) {
      const start = performance.now();
      contraseg[command]();
      const ours = performance.now() - start;
      const theirs = (await pytorch.run(command)).ms;
      console.error(`${command} step ${step}: contraseg ${ours.toFixed(0)} ms, PyTorch ${theirs.toFixed(0)} ms`);
      if (step >= WARMUP) {
        times.contraseg[command].push(ours);
        times.pytorch[command].push(theirs);
      }
    }
  }
  const pytorchRss = (await pytorch.run('quit')).rss_mb;
  optimizer.dispose();
  model.dispose();
  images.dispose();
  labels.dispose();
  const result = {
    bench: 'deeplab-step', threads: THREADS, batch: [BATCH, 3, SIZE, SIZE], steps: STEPS,
    contraseg_ms: round(median(times.contraseg.train)), pytorch_ms: round(median(times.pytorch.train)),
    ratio: round(median(times.contraseg.train) / median(times.pytorch.train), 3),
    contraseg_infer_ms: round(median(times.contraseg.infer)), pytorch_infer_ms: round(median(times.pytorch.infer)),
    infer_ratio: round(median(times.contraseg.infer) / median(times.pytorch.infer), 3),
    // Median of per-step ratios: robust to load drift on a shared machine (the two sides alternate).
    paired_ratio: round(median(pairedRatios(times.contraseg.train, times.pytorch.train)), 3),
    paired_infer_ratio: round(median(pairedRatios(times.contraseg.infer, times.pytorch.infer)), 3),
    contraseg_rss_mb: round(process.resourceUsage().maxRSS / 1024), pytorch_rss_mb: round(pytorchRss),
  };
  console.log(`train step (median of ${STEPS}): contraseg ${result.contraseg_ms} ms, PyTorch ${result.pytorch_ms} ms, ratio ${result.ratio}`);
  console.log(`inference (median of ${STEPS}): contraseg ${result.contraseg_infer_ms} ms, PyTorch ${result.pytorch_infer_ms} ms, ratio ${result.infer_ratio}`);
  console.log(`median of per-step ratios: train ${result.paired_ratio}, inference ${result.paired_infer_ratio}`);
  console.log(`peak RSS: contraseg ${result.contraseg_rss_mb} MB, PyTorch ${result.pytorch_rss_mb} MB`);
  console.log(JSON.stringify(result));
}

await main();
