/**
 * The label-efficiency sweep: every (method, K, seed) cell is one ordinary run in its own run
 * directory under <out>/cells/, trained in a child process (`contraseg train`), so cells run in
 * parallel where cores allow, a killed cell resumes from its last checkpoint, and a finished cell
 * (its summary.json) is skipped on a rerun. The whole study may span several sittings.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ContrasegError, InterruptedError } from '../errors.js';
import type { CurvePoint, EvaluationSummary, SweepCell } from '../report/results.js';
import type { SweepConfig } from './sweep-config.js';
import { parseRunConfig, type RunConfig } from './config.js';
import { CONFIG_FILE, SUMMARY_FILE, isRunDir, readMetrics, writeFileAtomic } from './run-dir.js';
import { cellSeconds, medianLoad } from './sweep-time.js';

/** One cell to train. */
export interface CellPlan {
  readonly id: string;
  readonly method: RunConfig['method'];
  readonly labelled: number | 'all';
  readonly seed: number;
  /** Total optimisation steps (pretrain + finetune; all fine-tuning for `ce`). */
  readonly totalSteps: number;
  readonly config: RunConfig;
  readonly runDir: string;
}

function merge(base: unknown, override: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(override)) {
    const current = result[key];
    result[key] = typeof value === 'object' && value !== null && !Array.isArray(value) && typeof current === 'object' && current !== null
      ? merge(current, value as Record<string, unknown>) : value;
  }
  return result;
}

/** The seeds of a budget: `seeds` up to manySeedsUpTo labelled images, `seedsAbove` beyond. */
export function seedsFor(sweep: SweepConfig, labelled: number | 'all'): number[] {
  const count = labelled !== 'all' && labelled <= sweep.manySeedsUpTo ? sweep.seeds : sweep.seedsAbove;
  return Array.from({ length: count }, (_, seed) => seed);
}

/**
 * Steps of stage 1 for a contrastive cell of `total` steps: the sweep's pretrainShare of the total (the base
 * config's pretrain / (pretrain + finetune) when unset), at least 1 step in each stage.
 */
export function pretrainStepsOf(sweep: SweepConfig, base: RunConfig, total: number): number {
  const share = sweep.pretrainShare ?? base.pretrain.steps / Math.max(1, base.pretrain.steps + base.finetune.steps);
  return Math.min(total - 1, Math.max(1, Math.round(total * share)));
}

/**
 * Plans one cell. Every method takes the same total steps (issue 10: pretraining + fine-tuning = the
 * baseline's steps): `ceSteps`, the ce total chosen on val, when given; else the base config's
 * pretrain + finetune steps. Contrastive cells split their total by pretrainStepsOf.
 */
export function planCell(sweep: SweepConfig, out: string, method: RunConfig['method'], labelled: number | 'all', seed: number, ceSteps?: number): CellPlan {
  const cell: Record<string, unknown> = {
    method, seed, baseline: false, data: { labelled: labelled === 'all' ? 'all' : { count: labelled } },
  };
  const base = parseRunConfig(merge(sweep.base, cell), 'sweep base + cell');
  const total = ceSteps ?? base.pretrain.steps + base.finetune.steps;
  const pretrainSteps = method === 'ce' ? 0 : pretrainStepsOf(sweep, base, total);
  const config = parseRunConfig(merge(merge(sweep.base, cell), { pretrain: { steps: pretrainSteps }, finetune: { steps: total - pretrainSteps } }), 'sweep base + cell');
  const id = `${method}-K${labelled}-s${seed}-T${total}`;
  return { id, method, labelled, seed, totalSteps: total, config, runDir: join(out, 'cells', id) };
}

/**
 * Keys that say how a run was executed, not what it computed (its final figures do not depend on them): a cell
 * recorded with other values is still the planned cell. `threads` is set per child process by the sweep itself.
 */
const EXECUTION_KEYS = new Set(['threads', 'data.workers', 'checkpointEvery', 'checkpointWrites', 'logEvery', 'eval.every']);

function flatten(value: unknown, prefix: string, into: Map<string, string>): Map<string, string> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) flatten(child, prefix === '' ? key : `${prefix}.${key}`, into);
  } else {
    into.set(prefix, JSON.stringify(value));
  }
  return into;
}

/**
 * How the settings a cell's run directory records differ from the plan ("key: recorded -> planned"), execution
 * keys left out; [] for a cell not started or started with the planned settings. A finished cell is otherwise reused
 * as it is, so without this check a sweep rerun with changed settings would report the old cells under the new ones.
 */
export function cellConfigConflicts(cell: CellPlan): string[] {
  const file = join(cell.runDir, CONFIG_FILE);
  if (!existsSync(file)) return [];
  const recorded = flatten(parseRunConfig(JSON.parse(readFileSync(file, 'utf8')), file), '', new Map());
  const planned = flatten(cell.config, '', new Map());
  const keys = [...new Set([...recorded.keys(), ...planned.keys()])].filter((key) => !EXECUTION_KEYS.has(key)).sort();
  return keys.filter((key) => recorded.get(key) !== planned.get(key)).map((key) => `${key}: ${recorded.get(key) ?? '(unset)'} -> ${planned.get(key) ?? '(unset)'}`);
}

/**
 * @throws ConfigError naming every cell (and key) whose recorded settings differ from the plan, and how to go on.
 */
export function checkCellConfigs(cells: readonly CellPlan[]): void {
  const conflicts = cells.flatMap((cell) => {
    const differences = cellConfigConflicts(cell);
    return differences.length === 0 ? [] : [`${cell.runDir}: ${differences.join('; ')}`];
  });
  if (conflicts.length === 0) return;
  throw new ConfigError(`${conflicts.length} cell${conflicts.length === 1 ? ' was' : 's were'} trained with other settings than this sweep plans ` +
    `(recorded -> planned):\n  ${conflicts.slice(0, 10).join('\n  ')}${conflicts.length > 10 ? `\n  ... and ${conflicts.length - 10} more` : ''}\n` +
    'Give the sweep another --work directory, or delete those cells to train them again.');
}

/** Whether a cell has finished (its summary.json exists). */
export function cellDone(cell: CellPlan): boolean {
  return existsSync(join(cell.runDir, SUMMARY_FILE));
}

/** The CLI entry (main.js when compiled, main.ts under tsx) that child processes run. */
function cliEntry(): string {
  const compiled = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  return existsSync(compiled) ? compiled : fileURLToPath(new URL('../cli/main.ts', import.meta.url));
}

/** Trains one cell in a child process (resuming it if it has a run directory). @throws ContrasegError if the child fails. */
export async function trainCell(cell: CellPlan, threads: number, log: (text: string) => void, signal?: AbortSignal): Promise<void> {
  mkdirSync(cell.runDir, { recursive: true });
  const configFile = join(cell.runDir, '..', `${cell.id}.config.json`);
  writeFileAtomic(configFile, `${JSON.stringify(cell.config, null, 2)}\n`);
  const args = isRunDir(cell.runDir) ? ['train', '--resume', cell.runDir] : ['train', '--config', configFile, '--out', cell.runDir];
  const child = spawn(process.execPath, [...process.execArgv, cliEntry(), ...args, '--threads', String(threads)], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CONTRASEG_NUM_THREADS: String(threads) },
  });
  const onAbort = (): void => { child.kill('SIGTERM'); };
  signal?.addEventListener('abort', onAbort);
  let tail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    tail = (tail + text).slice(-4000);
    for (const line of text.split('\n')) if (/ \d+\/\d+ loss| evaluating /.test(line)) log(`[${cell.id}] ${line.replace(/^\[[^\]]*\] /, '')}`);
  });
  const code = await new Promise<number>((resolve) => child.on('close', (status) => resolve(status ?? 1)));
  signal?.removeEventListener('abort', onAbort);
  if (code !== 0) throw new ContrasegError('CONFIG', `cell ${cell.id} failed (exit ${code}); rerun the sweep to resume it. Its last output:\n${tail.trim().split('\n').slice(-5).join('\n')}`);
}

/**
 * Runs `cells` (skipping finished ones) with at most `jobs` children at once, threads split between them.
 * @throws ConfigError before any training when a cell's recorded settings differ from the plan (checkCellConfigs).
 */
export async function trainCells(cells: readonly CellPlan[], jobs: number, log: (text: string) => void, signal?: AbortSignal): Promise<void> {
  checkCellConfigs(cells);
  const todo = cells.filter((cell) => !cellDone(cell));
  const threads = Math.max(1, Math.floor(availableParallelism() / jobs));
  let next = 0;
  const failures: Error[] = [];
  const worker = async (): Promise<void> => {
    while (next < todo.length && signal?.aborted !== true) {
      const cell = todo[next++] as CellPlan;
      log(`[${cell.id}] start (${threads} thread${threads === 1 ? '' : 's'})`);
      try {
        await trainCell(cell, threads, log, signal);
        log(`[${cell.id}] done`);
      } catch (error) {
        failures.push(error as Error);
        log(`[${cell.id}] ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, todo.length) }, worker));
  if (signal?.aborted === true) throw new InterruptedError('sweep stopped; finished cells are kept and a rerun resumes the others');
  if (failures.length > 0) throw failures[0] as Error;
}

type Summary = { val: (EvaluationSummary & { classIoU: Record<string, number | null> }) | null; test: (EvaluationSummary & { classIoU: Record<string, number | null> }) | null; seconds: SweepCell['seconds'] };

function evaluationOf(value: Summary['val']): EvaluationSummary | null {
  if (value === null) return null;
  return {
    mIoU: value.mIoU, pixelAccuracy: value.pixelAccuracy, meanClassAccuracy: value.meanClassAccuracy,
    frequencyWeightedIoU: value.frequencyWeightedIoU, classIoU: Object.values(value.classIoU), images: value.images, seconds: value.seconds,
  };
}

/** A finished cell as the report's plain data. @throws ConfigError if it has not finished. */
export function readCell(cell: CellPlan): SweepCell {
  if (!cellDone(cell)) throw new ConfigError(`cell ${cell.id} has not finished (no ${join(cell.runDir, SUMMARY_FILE)})`);
  const summary = JSON.parse(readFileSync(join(cell.runDir, SUMMARY_FILE), 'utf8')) as Summary;
  const metrics = readMetrics(cell.runDir);
  const curve: CurvePoint[] = metrics.filter((record) => record.kind === 'step' && typeof record.loss === 'number')
    .map((record) => ({ stage: record.stage === 'pretrain' ? 'pretrain' : 'finetune', step: record.step, loss: record.loss as number }));
  const valCurve = metrics.filter((record) => record.kind === 'eval' && record.split === 'val' && typeof record.mIoU === 'number')
    .map((record) => ({ step: record.step, mIoU: record.mIoU as number }));
  return {
    method: cell.method, labelled: cell.labelled === 'all' ? (readFileSync(join(cell.runDir, 'split.txt'), 'utf8').trim().split('\n').length) : cell.labelled,
    seed: cell.seed, steps: { pretrain: cell.config.pretrain.steps, finetune: cell.config.finetune.steps },
    val: evaluationOf(summary.val), test: evaluationOf(summary.test), curve, valCurve,
    seconds: cellSeconds(metrics, { pretrain: cell.config.pretrain.steps, finetune: cell.config.finetune.steps },
      { val: summary.val?.images ?? 0, test: summary.test?.images ?? 0 }),
    wallSeconds: summary.seconds.total,
    load: medianLoad(metrics),
  };
}
