/**
 * npm run bench -- contrastive-loss: forward + backward of the within-image and cross-image losses of
 * issue 3, batch 2, D = 256, 19 classes, 32x32 to 256x256 feature maps, contraseg's chunked kernels
 * against a dense PyTorch implementation in the released code's formulation (bench/contrastive_loss_ref.py),
 * both on the same inputs, 2 threads each (OPENBLAS_NUM_THREADS=1).
 *
 * Every measurement runs in a fresh child process (this file with --worker, or the Python reference):
 * it builds the inputs, records VmRSS as its baseline and resets VmHWM (writing 5 to /proc/self/clear_refs),
 * runs the passes, and reports the median time and VmHWM - baseline: the peak extra resident memory of
 * the loss, its gradients included. Time and memory come from separate runs: timing runs use each
 * side's default allocator settings; memory runs set glibc's mmap and trim thresholds to 1 MiB (and
 * turn contraseg's allocator tuning off) so that RSS follows live memory instead of freed blocks kept
 * on the heap. At 256x256 (minutes per pass) one memory-settings run gives both figures; those
 * settings only add page faults to contraseg's time. The dense side is skipped where its memory,
 * extrapolated from the previous size (x16 per doubling), would exceed 8 GiB.
 * Then the thread scaling of the memory (contraseg only): the batch loss at B = 8, 64x64, D = 256, memory
 * settings, with 1 and with 2 threads. Each extra intra-op thread may add only its chunk x M scratch
 * (about 2^21 similarities, 8 MiB float32, plus masks), never a D x M column-gradient copy (contrastive.h).
 * Last line: one JSON object with a row per size and loss and one per thread count.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonExecutable, requirePytorchReference } from './lib/pytorch-reference.js';

const SIZES = [32, 64, 128, 256];
const LOSSES = ['within', 'cross'] as const;
type WorkerLoss = (typeof LOSSES)[number] | 'batch';
const BATCH = 2;
const CHANNELS = 256;
const CLASSES = 19;
const IGNORE = 255;
const THREADS = 2;
const DENSE_LIMIT_MB = 8 * 1024;
/** Thread scaling: the batch loss of issue 8's example (B = 8, D = 256) at 64x64, where one pass takes ~1 min. */
const SCALING = { batch: 8, size: 64, loss: 'batch' as const, threads: [1, 2] };

type Loss = (typeof LOSSES)[number];
interface Measurement { ms: number; mb: number; value: number }

const here = dirname(fileURLToPath(import.meta.url));
const thisFile = fileURLToPath(import.meta.url);

/** Warm-up passes and timed passes per size: the large sizes take seconds to minutes per pass. */
function passes(size: number): [number, number] {
  if (size <= 32) return [2, 5];
  if (size <= 64) return [1, 3];
  return [0, 1];
}

/** The murmur3 finaliser on uint32, as hash32 in contrastive_loss_ref.py. */
function hash32(value: number): number {
  let h = value >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function memoryKb(field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((entry) => entry.startsWith(`${field}:`));
  if (line === undefined) throw new Error(`${field} missing from /proc/self/status`);
  return Number(line.split(/\s+/)[1]);
}

async function runWorker(size: number, loss: WorkerLoss, warmup: number, reps: number, batch: number,
  threads: number): Promise<void> {
  const { tensor } = await import('../src/torch/creation.js');
  const { keep, noGrad, scope, setNumThreads } = await import('../src/torch/scope.js');
  const { normalize } = await import('../src/torch/ops/functional.js');
  const { batchContrastiveLoss, crossImageContrastiveLoss, withinImageContrastiveLoss } =
    await import('../src/losses/pixel-contrastive.js');
  setNumThreads(threads);
  const makeFeatures = (salt: number) => keep(noGrad(() => scope(() => {
    const count = batch * CHANNELS * size * size;
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = hash32(i + salt * 2 ** 28) / 4294967296 - 0.5;
    return normalize(tensor(values, [batch, CHANNELS, size, size]), { dim: 1 });
  })).setRequiresGrad(true));
  const makeLabels = (salt: number) => {
    const labels = new BigInt64Array(batch * size * size);
    for (let b = 0, i = 0; b < batch; b++) {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++, i++) {
          const ignored = hash32(i + salt * 2 ** 24) % 16 === 0;
          labels[i] = BigInt(ignored ? IGNORE : hash32(b * 4096 + (y >> 3) * 64 + (x >> 3) + 77) % CLASSES);
        }
      }
    }
    return keep(tensor(labels, [batch, size, size]));
  };
  const features = makeFeatures(1);
  const distorted = makeFeatures(2);
  const labels = makeLabels(1);
  const distortedLabels = makeLabels(2);
  const lossFn = { within: withinImageContrastiveLoss, cross: crossImageContrastiveLoss, batch: batchContrastiveLoss }[loss];
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = memoryKb('VmRSS');
  writeFileSync('/proc/self/clear_refs', '5');
  const times: number[] = [];
  let value = 0;
  for (let rep = 0; rep < warmup + reps; rep++) {
    features.zeroGrad();
    distorted.zeroGrad();
    const start = performance.now();
    value = scope(() => {
      const result = lossFn(features, labels, distorted, distortedLabels);
      result.backward();
      return result.item();
    });
    if (rep >= warmup) times.push(performance.now() - start);
  }
  console.log(JSON.stringify({ ms: median(times), mb: (memoryKb('VmHWM') - baseline) / 1024, value }));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const baseEnv: NodeJS.ProcessEnv = {
  ...process.env,
  OPENBLAS_NUM_THREADS: '1',
  OMP_NUM_THREADS: String(THREADS),
  CONTRASEG_NUM_THREADS: String(THREADS),
};
for (const name of ['CONTRASEG_MALLOC_TUNING', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_']) delete baseEnv[name];
const memoryEnv: NodeJS.ProcessEnv = {
  ...baseEnv,
  CONTRASEG_MALLOC_TUNING: '0',
  MALLOC_MMAP_THRESHOLD_: String(1 << 20),
  MALLOC_TRIM_THRESHOLD_: String(1 << 20),
};
/** Sizes from which one memory-settings run gives both time and memory. */
const SINGLE_RUN_FROM = 256;

/** The environment of a memory run with `threads` intra-op threads. */
function memoryEnvWith(threads: number): NodeJS.ProcessEnv {
  return { ...memoryEnv, OMP_NUM_THREADS: String(threads), CONTRASEG_NUM_THREADS: String(threads) };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Measurement {
  const output = execFileSync(command, args, { encoding: 'utf8', env, maxBuffer: 1 << 20 });
  return JSON.parse(output.trim().split('\n').pop() as string) as Measurement;
}

/** Time from a default-settings run, memory (and the loss value) from a memory-settings run. */
function measure(command: string, args: string[], size: number): Measurement {
  const memory = run(command, args, memoryEnv);
  if (size >= SINGLE_RUN_FROM) return memory;
  return { ...memory, ms: run(command, args, baseEnv).ms };
}

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function runParent(): void {
  requirePytorchReference(['torch', 'numpy']); // contrastive_loss_ref.py
  console.log(`contrastive-loss: forward + backward, batch ${BATCH}, D = ${CHANNELS}, ${CLASSES} classes, ` +
    `${THREADS} threads each; contraseg (chunked, exact) vs dense PyTorch (N x M matrices, released-code formulation).`);
  console.log('time: median of the timed passes, default allocator settings; memory: peak RSS above the post-setup ' +
    'baseline (VmHWM reset via /proc/self/clear_refs) in a separate run with glibc mmap/trim thresholds of 1 MiB on both ' +
    `sides; from ${SINGLE_RUN_FROM}x${SINGLE_RUN_FROM} one run with the memory settings gives both. Fresh process per run.`);
  const rows: Record<string, unknown>[] = [];
  const lastDense = new Map<Loss, { size: number; mb: number }>();
  for (const size of SIZES) {
    for (const loss of LOSSES) {
      const [warmup, reps] = passes(size);
      const args = [String(size), loss, String(warmup), String(reps)];
      const contraseg = measure(process.execPath, ['--expose-gc', '--import', 'tsx', thisFile, '--worker', ...args,
        String(BATCH), String(THREADS)], size);
      const previous = lastDense.get(loss);
      const predictedMb = previous === undefined ? 0 : previous.mb * (size / previous.size) ** 4;
      const dense = predictedMb > DENSE_LIMIT_MB ? null : measure(pythonExecutable(), [join(here, 'contrastive_loss_ref.py'), ...args], size);
      if (dense !== null) lastDense.set(loss, { size, mb: dense.mb });
      else lastDense.set(loss, { size, mb: predictedMb });
      const row = {
        size: `${size}x${size}`, loss,
        contraseg_ms: round(contraseg.ms), dense_ms: dense === null ? null : round(dense.ms),
        contraseg_mb: round(contraseg.mb), dense_mb: dense === null ? null : round(dense.mb),
        time_ratio: dense === null ? null : round(contraseg.ms / dense.ms, 3),
        memory_ratio: dense === null ? null : round(contraseg.mb / dense.mb, 4),
        contraseg_loss: round(contraseg.value, 5), dense_loss: dense === null ? null : round(dense.value, 5),
      };
      rows.push(row);
      const denseText = dense === null
        ? `dense skipped (would need ~${round(predictedMb / 1024)} GiB > 8 GiB)`
        : `dense ${row.dense_ms} ms, ${row.dense_mb} MB (time ratio ${row.time_ratio}, memory ratio ${row.memory_ratio})`;
      console.log(`${row.size} ${loss}: contraseg ${row.contraseg_ms} ms, ${row.contraseg_mb} MB; ${denseText}; ` +
        `loss ${row.contraseg_loss}${dense === null ? '' : ` vs ${row.dense_loss}`} (${warmup} warm-up, median of ${reps}, ` +
        `${THREADS} threads)`);
    }
  }
  const scaling = threadScaling();
  console.log(JSON.stringify({ bench: 'contrastive-loss', batch: BATCH, channels: CHANNELS, classes: CLASSES, threads: THREADS, rows,
    thread_scaling: scaling }));
}

/** Peak extra memory of the batch loss with each thread count (memory settings, one pass each). */
function threadScaling(): Record<string, unknown>[] {
  const { batch, size, loss, threads } = SCALING;
  // Valid pixels of one view of the batch (1 in 16 labels is ignored): the M of the D x M bound.
  const columns = Math.round(batch * size * size * (15 / 16));
  const columnCopyMb = (CHANNELS * columns * 4) / 2 ** 20;
  console.log(`thread scaling: ${loss} loss, batch ${batch}, ${size}x${size}, D = ${CHANNELS}, M ~ ${columns}; a per-thread ` +
    `D x M float32 copy would be ${round(columnCopyMb)} MB per extra thread`);
  const rows = threads.map((count) => {
    const args = [String(size), loss, '0', '1', String(batch), String(count)];
    const result = run(process.execPath, ['--expose-gc', '--import', 'tsx', thisFile, '--worker', ...args], memoryEnvWith(count));
    console.log(`  ${count} thread${count === 1 ? '' : 's'}: contraseg ${round(result.mb)} MB, ${round(result.ms)} ms, loss ${round(result.value, 5)}`);
    return { threads: count, contraseg_mb: round(result.mb), contraseg_ms: round(result.ms), contraseg_loss: round(result.value, 5) };
  });
  const first = rows[0].contraseg_mb;
  const last = rows[rows.length - 1];
  const perThread = (last.contraseg_mb - first) / (last.threads - rows[0].threads);
  console.log(`  memory per extra thread: ${round(perThread)} MB (a D x M copy per thread: ${round(columnCopyMb)} MB)`);
  return rows;
}

if (process.argv[2] === '--worker') {
  const [size, loss, warmup, reps, batch, threads] = process.argv.slice(3);
  await runWorker(Number(size), loss as WorkerLoss, Number(warmup), Number(reps), Number(batch), Number(threads));
} else {
  runParent();
}
