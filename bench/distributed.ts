/**
 * npm run bench -- distributed: data-parallel training on this machine. Images per second of the
 * ResNet-18 DeepLabV3+ training step (OS 16, 21 classes, 256x256 crops, SGD) in two layouts of the same 2
 * cores and the same global batch:
 *   - 1 process x 2 threads, batch 2b;
 *   - 2 processes x 1 thread, batch b each, gradients averaged over Gloo on loopback after backward.
 * Also the all-reduce time per step (all gradients, bucketed as in training) and the bytes it moves, for
 * the scaling estimate in bench/RESULTS.md. Last line: one JSON object. Options: --steps N (default 10),
 * --batch b (per process, default 2). Run it only on a quiet machine: both layouts use both cores.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { buildSegmentationModel } from '../src/models/build.js';
import { SGD } from '../src/torch/optim/sgd.js';
import { manualSeed, randint, randn } from '../src/torch/creation.js';
import { keep, scope, setNumThreads } from '../src/torch/scope.js';
import { crossEntropy } from '../src/torch/ops/functional.js';
import { averageGradients, initProcessGroup, type ProcessGroup } from '../src/distributed/index.js';
import { median } from './lib/paired.js';

const SIZE = 256;
const CLASSES = 21;
const WARMUP = 2;

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index < 0 ? fallback : Number(process.argv[index + 1]);
}

interface Timing {
  images: number;
  stepMs: number[];
  allReduceMs: number[];
  gradientBytes: number;
}

/** Trains `steps` (+ warm-up) steps at `batch`; with a group, averages gradients after backward and times it. */
function trainSteps(batch: number, steps: number, group: ProcessGroup | null): Timing {
  manualSeed(0);
  const model = buildSegmentationModel({ network: { backbone: { kind: 'resnet18', outputStride: 16 } }, head: { kind: 'classifier', numClasses: CLASSES } });
  const parameters = model.parameters();
  const optimizer = new SGD(parameters, { lr: 0.01, momentum: 0.9 });
  const images = keep(randn([batch, 3, SIZE, SIZE]));
  const labels = keep(randint(0, CLASSES, [batch, SIZE, SIZE]));
  const stepMs: number[] = [];
  const allReduceMs: number[] = [];
  const gradientBytes = parameters.reduce((sum, parameter) => sum + 4 * parameter.shape.reduce((product, dim) => product * dim, 1), 0);
  if (group !== null) group.broadcast(parameters, 0);
  for (let step = 0; step < WARMUP + steps; step++) {
    const start = performance.now();
    let reduceMs = 0;
    scope(() => {
      model.train();
      const loss = crossEntropy(model.forwardAtInputSize(images), labels, { ignoreIndex: 255 });
      optimizer.zeroGrad();
      loss.backward();
      if (group !== null) {
        const reduceStart = performance.now();
        averageGradients(group, parameters);
        reduceMs = performance.now() - reduceStart;
      }
      optimizer.step();
    });
    if (step >= WARMUP) {
      stepMs.push(performance.now() - start);
      allReduceMs.push(reduceMs);
    }
  }
  optimizer.dispose();
  model.dispose();
  images.dispose();
  labels.dispose();
  return { images: batch, stepMs, allReduceMs, gradientBytes };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** Runs this file as `ranks` processes x 1 thread; returns rank 0's timing. */
async function runRanks(ranks: number, batch: number, steps: number): Promise<Timing> {
  const port = await freePort();
  const script = fileURLToPath(import.meta.url);
  const outputs = await Promise.all(Array.from({ length: ranks }, (_, rank) => new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, '--rank-worker', '--batch', String(batch), '--steps', String(steps)], {
      env: { ...process.env, MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), WORLD_SIZE: String(ranks), RANK: String(rank),
        LOCAL_RANK: String(rank), CONTRASEG_NUM_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`rank ${rank} exited with ${code}`))));
  })));
  return JSON.parse((outputs[0] as string).trim().split('\n').at(-1) as string) as Timing;
}

const steps = argument('--steps', 10);
const batch = argument('--batch', 2);

if (process.argv.includes('--rank-worker')) {
  const { group } = initProcessGroup({ timeoutMs: 600_000, threads: 1 });
  const timing = trainSteps(batch, steps, group);
  group.destroy();
  process.stdout.write(`${JSON.stringify(timing)}\n`);
} else {
  setNumThreads(2);
  const single = trainSteps(2 * batch, steps, null);
  const parallel = await runRanks(2, batch, steps);
  const singleRate = (2 * batch) / (median(single.stepMs) / 1000);
  const parallelRate = (2 * batch) / (median(parallel.stepMs) / 1000);
  const reduceMs = median(parallel.allReduceMs);
  console.log(`1 process x 2 threads, batch ${2 * batch}: ${median(single.stepMs).toFixed(0)} ms/step, ${singleRate.toFixed(2)} images/s`);
  console.log(`2 processes x 1 thread, batch ${batch} each: ${median(parallel.stepMs).toFixed(0)} ms/step, ${parallelRate.toFixed(2)} images/s ` +
    `(all-reduce ${reduceMs.toFixed(0)} ms/step of ${(parallel.gradientBytes / 2 ** 20).toFixed(1)} MiB gradients)`);
  console.log(JSON.stringify({
    bench: 'distributed', steps, globalBatch: 2 * batch, size: SIZE,
    singleProcessImagesPerSecond: singleRate, twoProcessImagesPerSecond: parallelRate, ratio: parallelRate / singleRate,
    allReduceMsPerStep: reduceMs, gradientBytes: parallel.gradientBytes,
  }));
}
