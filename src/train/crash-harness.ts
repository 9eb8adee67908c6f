/**
 * TEST ONLY: runs `contraseg train` (from src, through tsx) as a child process on a tiny generated CamVid,
 * follows its progress lines and kills or interrupts it, for the crash-safety tests (sigkill.test.ts,
 * disk.test.ts). Not part of the package surface.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCheckpoint } from './checkpoint.js';
import { CHECKPOINT_DIR } from './checkpoint-store.js';
import type { Tensor } from '../torch/tensor.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(REPO, 'src', 'cli', 'main.ts');

/** Flags of a tiny two-stage run: width-1/16 ResNet-18, 16-wide head, one thread, every step logged. */
export function tinyTrainFlags(root: string, runDir: string, steps: { pretrain: number; finetune: number; checkpointEvery: number }): string[] {
  return ['train', '--dataset', 'camvid', '--root', root, '--labelled', '3', '--batch-size', '2', '--crop', '32', '--width', '0.0625',
    '--pretrain-steps', String(steps.pretrain), '--finetune-steps', String(steps.finetune), '--checkpoint-every', String(steps.checkpointEvery),
    '--workers', '1', '--threads', '1', '--seed', '3', '--no-test', '--out', runDir, '--set', 'logEvery=1', '--set', 'pretrain.head.width=16'];
}

/** A step line of the plain progress output. */
export interface ProgressStep {
  readonly stage: 'pretrain' | 'finetune';
  readonly step: number;
}

/** What a child run printed and how it ended. */
export interface ChildOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  /** Every step line, in order. */
  readonly steps: ProgressStep[];
  /** `resumed at step N` of each stage start line (0 for a fresh stage). */
  readonly starts: Map<string, number>;
}

/** A running child: kill or signal it through `child`; `outcome` settles when it exits. */
export interface ChildRun {
  readonly child: ChildProcess;
  readonly outcome: Promise<ChildOutcome>;
}

const STEP_LINE = /\] (pretrain|finetune) (\d+)\/\d+ loss/;
const START_LINE = /\] (pretrain|finetune): \d+ steps(?: \(resumed at step (\d+)\))?/;

/**
 * Spawns `node --import tsx src/cli/main.ts ...argv` with `env` added; calls onStep for each step line.
 * `uid` runs it as another user (to meet real permission checks, which root bypasses).
 */
export function spawnCli(argv: readonly string[], env: Record<string, string> = {}, onStep?: (step: ProgressStep, child: ChildProcess) => void,
  uid?: number): ChildRun {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...argv], {
    cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CONTRASEG_NUM_THREADS: '1', ...env },
    ...(uid === undefined ? {} : { uid, gid: uid }),
  });
  const steps: ProgressStep[] = [];
  const starts = new Map<string, number>();
  let stderr = '';
  let pending = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const start = START_LINE.exec(line);
      if (start !== null) starts.set(start[1] as string, Number(start[2] ?? 0));
      const match = STEP_LINE.exec(line);
      if (match === null) continue;
      const step: ProgressStep = { stage: match[1] as ProgressStep['stage'], step: Number(match[2]) };
      steps.push(step);
      onStep?.(step, child);
    }
  });
  const outcome = new Promise<ChildOutcome>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, steps, starts }));
  });
  return { child, outcome };
}

/** Files of `<runDir>/checkpoints` that no pointer references: temp files, a half-made save, unpruned ones. */
export function unreferencedCheckpointFiles(runDir: string): string[] {
  const directory = join(runDir, CHECKPOINT_DIR);
  let files: string[];
  try {
    files = readdirSync(directory);
  } catch {
    return [];
  }
  const referenced = new Set<string>();
  for (const file of files) {
    if (!/^[A-Za-z0-9_]+\.json$/.test(file)) continue;
    referenced.add(file);
    try {
      const checkpoint = readCheckpoint(join(directory, file));
      referenced.add(checkpoint.file.slice(directory.length + 1)).add(checkpoint.tensorsFile.slice(directory.length + 1));
      checkpoint.dispose();
    } catch {
      // a pointer that does not verify leaves its files unreferenced: the caller sees them
    }
  }
  return files.filter((file) => !referenced.has(file));
}

/** The bytes of every tensor of a checkpoint (model and optimiser), by key, for bit-for-bit comparison. */
export function checkpointBytes(runDir: string, name: string): Map<string, Buffer> {
  const checkpoint = readCheckpoint(runDir, { name });
  try {
    return new Map([...checkpoint.tensors].map(([key, value]: [string, Tensor]) => {
      const data = value.toTypedArray();
      return [key, Buffer.from(data.buffer, data.byteOffset, data.byteLength)] as const;
    }));
  } finally {
    checkpoint.dispose();
  }
}

/** A seeded PRNG in [0, 1) (mulberry32), so that every kill schedule is reproducible from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
