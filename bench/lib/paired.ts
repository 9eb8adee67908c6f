/**
 * Same-run comparison with PyTorch: a PyTorch child process runs one step per command, alternating with
 * contraseg's step in this process, so load from other processes hits both sides alike.
 * Protocol of the child: prints {"ready": true} once, then answers each stdin line ('train', 'infer', ...)
 * with {"ms": ...}; 'quit' answers {"rss_mb": ...} and exits.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A running PyTorch step server. */
export interface PytorchWorker {
  run(command: string): Promise<Record<string, number>>;
}

/** Starts `/usr/bin/python3 script ...args` (OPENBLAS_NUM_THREADS=1) and waits for it to be ready. */
export async function startPytorch(script: string, args: (string | number)[]): Promise<PytorchWorker> {
  const child = spawn('/usr/bin/python3', [script, ...args.map(String)],
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
 * Alternates `ours()` and the child's `command` for warmup + steps rounds; returns the times after warm-up.
 * `label` prefixes a progress line per step on stderr.
 */
export async function alternate(label: string, ours: () => void, pytorch: PytorchWorker, command: string,
  steps: number, warmup: number): Promise<PairedTimes> {
  const times: PairedTimes = { contraseg: [], pytorch: [] };
  for (let step = 0; step < warmup + steps; step++) {
    const start = performance.now();
    ours();
    const mine = performance.now() - start;
    const theirs = (await pytorch.run(command)).ms;
    process.stderr.write(`${label} ${command} step ${step}: contraseg ${mine.toFixed(1)} ms, PyTorch ${theirs.toFixed(1)} ms\n`);
    if (step >= warmup) {
      times.contraseg.push(mine);
      times.pytorch.push(theirs);
    }
  }
  return times;
}

/** Median ratio contraseg / PyTorch, and the median of per-step ratios (robust to load drift). */
export function ratios(times: PairedTimes): { contrasegMs: number; pytorchMs: number; ratio: number; pairedRatio: number } {
  const contrasegMs = median(times.contraseg);
  const pytorchMs = median(times.pytorch);
  return {
    contrasegMs, pytorchMs, ratio: contrasegMs / pytorchMs,
    pairedRatio: median(times.contraseg.map((value, index) => value / times.pytorch[index])),
  };
}
