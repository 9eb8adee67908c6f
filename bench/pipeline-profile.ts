/**
 * npm run bench -- pipeline-profile [steps=20] [warmup=3]: where the fine-tuning pipeline's time goes, in
 * CPU time, which other processes on a shared machine hardly change (wall time they do).
 *
 * 1. Loader: CPU ms to build one batch of 8 (camvid_180x240, 128x128 crops, scale [0.5, 2], flip; single view
 *    and the pretraining pair), contraseg's buildBatch with and without the decoded-sample cache, against
 *    PyTorch's Dataset + collate of bench/pipeline_torch.py (`--profile-loader`). On 2 cores that CPU time is
 *    taken from the training step's two libtorch threads.
 * 2. One fine-tuning stage in this process (the camvid-quick network, 1 loader worker, 2 threads, logEvery 1,
 *    checkpointEvery 10): CPU ms per step of every thread (main, libtorch's pool, the loader worker, libuv,
 *    ...) from /proc/self/task/<tid>/schedstat, and with CONTRASEG_STEP_PROFILE the main thread's phases
 *    (src/train/step-profile.ts). Steps after the warm-up only.
 * 3. Turning a batch's typed arrays into tensors (the one copy on the main thread), CPU ms.
 * Not a timed benchmark; Linux only (procfs). Last line: one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBatch, IMAGENET_MEAN, IMAGENET_STD, type BatchRecipe } from '../src/data/batch.js';
import { sharedDataFolder } from '../src/data/fixtures.js';
import { cacheSamples } from '../src/data/loader-cache.js';
import { openDataset } from '../src/data/open-dataset.js';
import type { SegmentationDataset } from '../src/data/types.js';
import { tensor } from '../src/torch/creation.js';
import { setNumThreads } from '../src/torch/scope.js';
import { distortionsFor } from '../src/train/build.js';
import { parseRunConfig } from '../src/train/config.js';
import { preset } from '../src/train/presets.js';
import { runTraining } from '../src/train/run.js';
import { pythonExecutable, requirePytorchReference } from './lib/pytorch-reference.js';

requirePytorchReference(['torch', 'torchvision']);
const steps = Number(process.argv[2] ?? 20);
const warmup = Number(process.argv[3] ?? 3);
const THREADS = 2;
const BATCHES = 30;
const root = sharedDataFolder('camvid_180x240');
if (root === undefined) {
  console.error('bench pipeline-profile: camvid_180x240 not found in ../shared/data (set CONTRASEG_DATA to the folder holding it)');
  process.exit(2);
}
const here = fileURLToPath(new URL('.', import.meta.url));
const round = (value: number): number => Math.round(value * 100) / 100;

/** Mean CPU ms (every thread of this process: sharp decodes on libuv's) of building a batch of 8 from 20 images. */
async function batchCpuMs(dataset: SegmentationDataset, recipe: BatchRecipe): Promise<number> {
  let total = 0;
  for (let b = 0; b < BATCHES + 3; b++) {
    const items = Array.from({ length: 8 }, (_, i) => ({ index: (b * 8 + i) % 20, seed: b * 8 + i }));
    const start = process.cpuUsage();
    await buildBatch(dataset, items, recipe);
    const used = process.cpuUsage(start);
    if (b >= 3) total += (used.user + used.system) / 1000;
  }
  return total / BATCHES;
}

async function loaderCpu(): Promise<Record<string, Record<string, number>>> {
  const dataset = await openDataset({ kind: 'camvid', root: root as string, split: 'train' });
  const geometric = { scale: [0.5, 2.0] as const, crop: { width: 128, height: 128 }, flipProbability: 0.5 };
  const figures: Record<string, Record<string, number>> = {};
  for (const kind of ['single', 'pair'] as const) {
    const recipe: BatchRecipe = { geometric, distortions: kind === 'pair' ? distortionsFor(0.5) : null, mean: IMAGENET_MEAN, std: IMAGENET_STD };
    figures[kind] = {
      contrasegDecoding: round(await batchCpuMs(dataset, recipe)),
      contrasegCached: round(await batchCpuMs(cacheSamples(dataset, Number.MAX_SAFE_INTEGER), recipe)),
    };
  }
  const python = spawnSync(pythonExecutable(), [join(here, 'pipeline_torch.py'), '--profile-loader', String(BATCHES), '--data', root as string], { encoding: 'utf8' });
  if (python.status !== 0) throw new Error(`pipeline_torch.py --profile-loader failed:\n${python.stderr}`);
  const torch = JSON.parse(python.stdout.trim().split('\n').pop() as string) as Record<string, { cpu_ms_per_batch: number }>;
  for (const kind of ['single', 'pair']) (figures[kind] as Record<string, number>).pytorch = (torch[kind] as { cpu_ms_per_batch: number }).cpu_ms_per_batch;
  return figures;
}

/** CPU nanoseconds of every thread of this process. */
function threadCpu(): Map<number, number> {
  const threads = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      threads.set(Number(tid), Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return threads;
}

async function finetuneThreads(): Promise<{ perThread: { thread: string; cpuMsPerStep: number }[]; phases: unknown }> {
  setNumThreads(THREADS);
  tensor(new Float32Array(1 << 16), [256, 256]).matmul(tensor(new Float32Array(1 << 16), [256, 256])); // starts libtorch's pool
  const before = new Set(threadCpu().keys());
  const dir = mkdtempSync(join(tmpdir(), 'contraseg-pipeline-profile-'));
  const profileFile = join(dir, 'profile.jsonl');
  process.env.CONTRASEG_STEP_PROFILE = profileFile;
  let start = new Map<number, number>();
  let end = new Map<number, number>();
  try {
    const base = preset('camvid-quick');
    const config = parseRunConfig({
      ...base, method: 'ce', baseline: false, threads: THREADS, checkpointEvery: 10, logEvery: 1,
      data: { ...(base.data as object), root, valSplit: null, testSplit: null, workers: 1 },
      pretrain: { ...(base.pretrain as object), steps: 0 }, finetune: { ...(base.finetune as object), steps: steps + warmup },
      eval: { every: 0, test: false },
    });
    await runTraining({ config, runDir: join(dir, 'run'), resume: false, stages: 'finetune', events: {
      onStep: (record) => {
        if (record.step === warmup) start = threadCpu();
        if (record.step === record.steps) end = threadCpu();
      },
    } });
    const phases = existsSync(profileFile) ? readFileSync(profileFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as unknown) : null;
    const perThread = [...end].map(([tid, ns]) => {
      const label = tid === process.pid ? 'main' : before.has(tid) ? `started before the run (${tid})` : `started by the run (${tid})`;
      return { thread: label, cpuMsPerStep: round((ns - (start.get(tid) ?? 0)) / 1e6 / steps) };
    }).filter((row) => row.cpuMsPerStep >= 0.05).sort((a, b) => b.cpuMsPerStep - a.cpuMsPerStep);
    return { perThread, phases };
  } finally {
    delete process.env.CONTRASEG_STEP_PROFILE;
    rmSync(dir, { recursive: true, force: true });
  }
}

function tensorCreationCpuMs(): number {
  const images = new Float32Array(8 * 3 * 128 * 128);
  const labels = new BigInt64Array(8 * 128 * 128);
  const started = process.cpuUsage();
  for (let i = 0; i < 50; i++) {
    tensor(images, [8, 3, 128, 128]).dispose();
    tensor(labels, [8, 128, 128]).dispose();
  }
  const used = process.cpuUsage(started);
  return round((used.user + used.system) / 1000 / 50);
}

const loader = await loaderCpu();
for (const kind of ['single', 'pair'] as const) {
  const row = loader[kind] as Record<string, number>;
  console.log(`loader ${kind}: CPU ms per batch of 8: contraseg decoding every time ${row.contrasegDecoding}, with the sample cache ${row.contrasegCached}; PyTorch ${row.pytorch}`);
}
const copy = tensorCreationCpuMs();
console.log(`batch -> tensors (images + labels, one copy): ${copy} CPU ms`);
const finetune = await finetuneThreads();
console.log(`fine-tuning, CPU ms per step by thread (${steps} steps after ${warmup}):`);
for (const row of finetune.perThread) console.log(`  ${row.thread.padEnd(32)} ${row.cpuMsPerStep.toFixed(1)}`);
console.log(`main-thread phases: ${JSON.stringify(finetune.phases)}`);
console.log(JSON.stringify({ bench: 'pipeline-profile', steps, warmup, threads: THREADS, loader, tensorCreationCpuMs: copy, finetune }));
