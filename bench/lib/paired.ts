/**
 * Same-run comparison with PyTorch: a PyTorch child process runs one step per command; contraseg runs in
 * this process. Both sides run in blocks ordered ABBA (see measureBlocks).
 * Protocol of the child: prints {"ready": true} once, then answers each stdin line ('train', 'infer', ...)
 * with {"ms": ...}; 'quit' answers {"rss_mb": ...} and exits.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { pythonExecutable } from './pytorch-reference.js';

/** A running PyTorch step server. */
export interface PytorchWorker {
  run(command: string): Promise<Record<string, number>>;
}

/** Starts `python3 script ...args` (see pythonExecutable; OPENBLAS_NUM_THREADS=1) and waits for it to be ready. */
export async function startPytorch(script: string, args: (string | number)[]): Promise<PytorchWorker> {
  const child = spawn(pythonExecutable(), [script, ...args.map(String)],
    { env: { ...process.env, OPENBLAS_NUM_THREADS: '1' }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, number>> => {
    const line = await lines.next();
    if (line.done === true) throw new Error(`${script} exited early`);
    return JSON.parse(line.value) as Record<string, number>;
  };
  await next();
  return {
    async run(command: string) {
      child.stdin.write(`${command}\n`);
      return next();
    },
  };
}

/** Mean of a list. */
export function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** Median of a list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 1): number {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}

/** Per-command step times of both sides. */
export interface PairedTimes {
  contraseg: number[];
  pytorch: number[];
}

/**
 * Runs each side in contiguous blocks (warm caches and allocator, as in real training), in the order
 * contraseg, PyTorch, PyTorch, contraseg: a slow drift of the machine's load then hits both sides alike.
 * Each block runs `warmup` untimed steps and half of `steps` timed ones. `label` prefixes progress on stderr.
 */
export async function measureBlocks(label: string, ours: () => void, pytorch: PytorchWorker, command: string,
  steps: number, warmup: number): Promise<PairedTimes> {
  const times: PairedTimes = { contraseg: [], pytorch: [] };
  const perBlock = Math.ceil(steps / 2);
  const runOurs = (): void => {
    for (let step = 0; step < warmup + perBlock; step++) {
      const start = performance.now();
      ours();
      if (step >= warmup) times.contraseg.push(performance.now() - start);
    }
  };
  const runTheirs = async (): Promise<void> => {
    for (let step = 0; step < warmup + perBlock; step++) {
      const ms = (await pytorch.run(command)).ms;
      if (step >= warmup) times.pytorch.push(ms);
    }
  };
  runOurs();
  await runTheirs();
  await runTheirs();
  runOurs();
  process.stderr.write(`${label} ${command}: contraseg [${times.contraseg.map((t) => t.toFixed(0)).join(' ')}] ms, ` +
    `PyTorch [${times.pytorch.map((t) => t.toFixed(0)).join(' ')}] ms\n`);
  return times;
}

/** Medians and their ratio contraseg / PyTorch. */
export function ratios(times: PairedTimes): { contrasegMs: number; pytorchMs: number; ratio: number } {
  const contrasegMs = median(times.contraseg);
  const pytorchMs = median(times.pytorch);
  return { contrasegMs, pytorchMs, ratio: contrasegMs / pytorchMs };
}
