/**
 * The run directory: everything a run leaves behind, in one folder.
 *
 *   config.json      the resolved, validated config (what --resume and `eval` rebuild the model from)
 *   split.txt        the labelled image ids, one per line
 *   metrics.jsonl    one JSON object per logged step ({ kind: 'step', stage, step, loss, lr, load, ... }) and per
 *                    evaluation ({ kind: 'eval', stage, step, split, mIoU, pixelAccuracy, ... })
 *   checkpoints/     the 'pretrain', 'finetune' and 'best' series (see checkpoint.ts)
 *   summary.json     final val/test metrics and wall-clock times
 *   curves.svg       loss and val mIoU against step
 *   baseline/        the cross-entropy baseline's own run directory (train --baseline)
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeFs, writeDurable } from './checkpoint-io.js';
import { CheckpointError, ConfigError } from '../errors.js';
import type { RunConfig } from './config.js';
import { parseRunConfig } from './config.js';

export const CONFIG_FILE = 'config.json';
export const SPLIT_FILE = 'split.txt';
export const METRICS_FILE = 'metrics.jsonl';
export const SUMMARY_FILE = 'summary.json';
export const CURVES_FILE = 'curves.svg';
export const BASELINE_DIR = 'baseline';

/** Writes a text file durably and atomically (temp + fsync + rename), as checkpoints are. */
export function writeFileAtomic(file: string, text: string): void {
  writeDurable(nodeFs, file, Buffer.from(text));
}

/** One line of metrics.jsonl. */
export type MetricsRecord = { kind: 'step' | 'eval'; stage: string; step: number } & Record<string, unknown>;

/** Creates the run directory and writes config.json and split.txt (atomically). */
export function initRunDir(runDir: string, config: RunConfig, labelledIds: readonly string[]): void {
  mkdirSync(runDir, { recursive: true });
  writeFileAtomic(join(runDir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  writeFileAtomic(join(runDir, SPLIT_FILE), `${labelledIds.join('\n')}\n`);
}

/** Whether `runDir` already holds a run (its config.json). */
export function isRunDir(runDir: string): boolean {
  return existsSync(join(runDir, CONFIG_FILE));
}

/** The config a run was started with. @throws ConfigError naming the file when it is missing or invalid. */
export function readRunConfig(runDir: string): RunConfig {
  const file = join(runDir, CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`${file} is missing: ${runDir} is not a contraseg run directory (expected the --out folder of a train, pretrain or finetune run)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${file} is not valid JSON (${(error as Error).message})`);
  }
  return parseRunConfig(json, file);
}

/** Every record of metrics.jsonl (a torn last line, from a kill mid-write, is skipped). */
export function readMetrics(runDir: string): MetricsRecord[] {
  const file = join(runDir, METRICS_FILE);
  if (!existsSync(file)) return [];
  const records: MetricsRecord[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line) as MetricsRecord);
    } catch {
      // a partial line from an interrupted append
    }
  }
  return records;
}

/** Appends one record to metrics.jsonl. */
/** @throws CheckpointError naming the file and the cause (ENOSPC, EACCES, EROFS...) when the line cannot be written. */
export function appendMetrics(runDir: string, record: MetricsRecord): void {
  const file = join(runDir, METRICS_FILE);
  try {
    appendFileSync(file, `${JSON.stringify(record)}\n`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined) throw error;
    throw new CheckpointError(`cannot append to the run's metrics log (${code}: ${(error as Error).message}); free disk space or fix permissions, then continue with --resume`, file);
  }
}

/**
 * On resume: drops the records of `stage` after `step` (written after the checkpoint the run resumes
 * from), and every record of later stages, so the log reads as one uninterrupted run.
 */
export function truncateMetrics(runDir: string, stage: string, step: number, laterStages: readonly string[]): void {
  const kept = readMetrics(runDir).filter((record) => !laterStages.includes(record.stage) && !(record.stage === stage && record.step > step));
  writeFileAtomic(join(runDir, METRICS_FILE), kept.map((record) => `${JSON.stringify(record)}\n`).join(''));
}
