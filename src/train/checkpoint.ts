/**
 * Training checkpoints that survive a kill at any moment: the model and optimiser tensors in one
 * safetensors file, everything else (step, RNG state, loader position, run config, labelled split,
 * stage, metrics) in one JSON file that names and checksums it, and a pointer file per series
 * (`last`, `best`, ...) whose atomic replacement commits a save. The layout is in checkpoint-store.ts,
 * the durable writes in checkpoint-io.ts and checkpoint-files.ts, the JSON schema in checkpoint-format.ts,
 * the background writer the training loop uses in checkpoint-writer.ts.
 *
 * Resuming: `resumeFromCheckpoint(runDirOrFile, { model, optimizer })`, then continue the loader at the
 * returned position: weights, momentum buffers and random draws continue bit for bit.
 */
import { basename, dirname, join, resolve as absolute } from 'node:path';
import { CheckpointError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { getRngState } from '../torch/creation.js';
import type { Optimizer } from '../torch/optim/optimizer.js';
import { decodeSafetensors, encodeSafetensorsParts } from '../torch/safetensors.js';
import type { Tensor } from '../torch/tensor.js';
import {
  CHECKPOINT_FORMAT, CHECKPOINT_VERSION, decodeChecked, expectJson, modelFingerprint,
  type CheckpointMeta, type JsonValue, type LoaderPosition, type Stage,
} from './checkpoint-format.js';
import { writeCheckpointFiles, type CheckpointJob, type UnhashedMeta } from './checkpoint-files.js';
import { nodeFs, pathKind, readBytes, syncDirectory, type CheckpointFs } from './checkpoint-io.js';
import { MODEL_PREFIX, OPTIMIZER_PREFIX, restoreCheckpoint, shapesOf, type RestoreTargets, type RestoredState } from './checkpoint-restore.js';
import {
  CHECKPOINT_DIR, checkpointFileNames, expectSeriesName, findLatest, jsonNameForTensors, nextSequence, pointerFileName,
  verifyCheckpoint, type LatestCheckpoint,
} from './checkpoint-store.js';

export { CHECKPOINT_VERSION, type CheckpointMeta, type JsonValue, type LoaderPosition, type Stage } from './checkpoint-format.js';
export { CHECKPOINT_DIR } from './checkpoint-store.js';
export type { CheckpointFs } from './checkpoint-io.js';
export { restoreCheckpoint, MODEL_PREFIX, OPTIMIZER_PREFIX, type RestoreTargets, type RestoredState } from './checkpoint-restore.js';

/** What a checkpoint captures. The model and optimiser are borrowed; the RNG state is read at save time. */
export interface CheckpointContent {
  model: Module;
  /** Omit to save weights only (restoring an optimiser from such a checkpoint is an error). */
  optimizer?: Optimizer;
  /** Optimisation steps completed. */
  step: number;
  stage: Stage;
  /** The next batch the deterministic loader will draw. */
  loaderPosition: LoaderPosition;
  /** The validated run config, as plain JSON. */
  config: unknown;
  /** Ids of the labelled split. */
  splitIds: readonly string[];
  /** Free plain-JSON record, e.g. { valMIoU: 0.61 }. */
  metrics?: Record<string, unknown>;
}

/** Options of saveCheckpoint. */
export interface SaveCheckpointOptions {
  /** Checkpoints of the series to keep, the new one included (default 1). */
  keep?: number;
  /** File-system layer (tests inject failures through it). */
  fs?: CheckpointFs;
}

/** Options of readCheckpoint, findLatestCheckpoint and resumeFromCheckpoint. */
export interface ReadCheckpointOptions {
  /** Series to read when given a run directory (default 'last'). */
  name?: string;
  fs?: CheckpointFs;
}

/** A checkpoint read and verified from disk. Its tensors belong to the caller: call dispose(). */
export interface LoadedCheckpoint {
  /** Path of the checkpoint's JSON. */
  file: string;
  tensorsFile: string;
  meta: CheckpointMeta;
  /** Every tensor, with its `model.` or `optim.` prefix. */
  tensors: Map<string, Tensor>;
  /** Why newer files were skipped (a damaged pointer, say); empty normally. Worth a warning. */
  problems: string[];
  /** Frees the tensors. */
  dispose(): void;
}

/**
 * Saves a checkpoint of series `name` ('last', 'best' or any letters/digits/underscores) under
 * `<runDir>/checkpoints/` and returns the path of its JSON. Durable and atomic: when this returns the
 * checkpoint survives a crash; a kill before that leaves the previous checkpoint of the series as the
 * latest. Older checkpoints of the series beyond `keep` are then deleted. Everything happens on the calling
 * thread; CheckpointWriter (checkpoint-writer.ts) does the same with the writing off the training loop's path.
 * @throws CheckpointError for content that is not plain JSON or a negative/fractional step, and for a
 * failed write (disk full, read-only, not a directory), naming the file; the previous checkpoint is intact.
 */
export function saveCheckpoint(runDir: string, name: string, content: CheckpointContent, options: SaveCheckpointOptions = {}): string {
  const io = options.fs ?? nodeFs;
  return writeCheckpointFiles(io, snapshotCheckpoint(io, runDir, name, content, options.keep ?? 1));
}

/**
 * The part of a save that must happen while the training loop waits: checks the content, creates the
 * checkpoint directory, picks the save's file names, and copies the state once (every tensor into one data
 * buffer, the RNG state, the JSON fields). What it returns no longer refers to the model or optimiser:
 * training may go on while writeCheckpointFiles writes it. `reuse`: a previous snapshot's data buffer
 * (job.tensors[0].buffer), no longer in use, to copy into when its size fits (encodeSafetensorsParts).
 * @throws CheckpointError as saveCheckpoint does before writing anything.
 */
export function snapshotCheckpoint(io: CheckpointFs, runDir: string, name: string, content: CheckpointContent, keep: number, reuse?: ArrayBuffer): CheckpointJob {
  expectSeriesName(name);
  if (!Number.isSafeInteger(keep) || keep < 1) throw new CheckpointError(`keep must be an integer >= 1, got ${keep}`);
  const fields = plainFields(content);
  const directory = join(runDir, CHECKPOINT_DIR);
  let created: unknown;
  try {
    created = io.mkdirSync(directory, { recursive: true });
  } catch (error) {
    throw new CheckpointError(`cannot create the checkpoint directory (${(error as Error).message})`, directory);
  }
  if (typeof created === 'string') syncNewDirectories(io, directory, created);
  const modelState = content.model.stateDict();
  const optimizerState = content.optimizer?.stateDict();
  const tensors = new Map<string, Tensor>();
  for (const [key, value] of modelState) tensors.set(MODEL_PREFIX + key, value);
  for (const [key, value] of optimizerState?.tensors ?? []) tensors.set(OPTIMIZER_PREFIX + key, value);
  const parts = encodeSafetensorsParts(tensors, { format: CHECKPOINT_FORMAT, step: String(content.step) }, reuse === undefined ? {} : { reuse });
  const sequence = nextSequence(io, directory, name);
  const names = checkpointFileNames(name, content.step, sequence);
  const meta: UnhashedMeta = {
    format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, name, sequence, step: content.step, stage: content.stage,
    savedAt: new Date().toISOString(),
    tensors: { file: names.tensors, bytes: parts.byteLength },
    model: { fingerprint: modelFingerprint(shapesOf(modelState)), tensorCount: modelState.size },
    optimizer: optimizerState === undefined ? null : expectJson(optimizerState.meta, 'optimizer state') as Record<string, JsonValue>,
    rngState: Buffer.from(getRngState()).toString('base64'),
    ...fields,
  };
  return { directory, name, names, keep, header: parts.header, tensors: parts.chunks, meta };
}

// mkdir -p creates entries in the parents of each new directory: fsync those parents, as for a rename.
function syncNewDirectories(io: CheckpointFs, directory: string, firstCreated: string): void {
  const top = absolute(firstCreated);
  for (let current = absolute(directory); ; current = dirname(current)) {
    syncDirectory(io, dirname(current));
    if (current === top || dirname(current) === current) return;
  }
}

function plainFields(content: CheckpointContent): Pick<CheckpointMeta, 'loaderPosition' | 'config' | 'splitIds' | 'metrics'> {
  expectCount(content.step, 'step');
  expectCount(content.loaderPosition.epoch, 'loaderPosition.epoch');
  expectCount(content.loaderPosition.batch, 'loaderPosition.batch');
  if (content.stage !== 'pretrain' && content.stage !== 'finetune') {
    throw new CheckpointError(`cannot save stage ${JSON.stringify(content.stage)}: expected 'pretrain' or 'finetune'`);
  }
  const splitIds = [...content.splitIds];
  const badId = splitIds.findIndex((id) => typeof id !== 'string');
  if (badId >= 0) throw new CheckpointError(`cannot save splitIds[${badId}]: expected a string, got ${typeof splitIds[badId]}`);
  return {
    loaderPosition: { epoch: content.loaderPosition.epoch, batch: content.loaderPosition.batch },
    config: expectJson(content.config, 'config'),
    splitIds,
    metrics: expectJson(content.metrics ?? {}, 'metrics') as Record<string, JsonValue>,
  };
}

function expectCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new CheckpointError(`cannot save ${what}: expected a non-negative integer, got ${value}`);
}

/**
 * Reads and verifies a checkpoint. `path` may be a run directory or its `checkpoints/` directory (the
 * latest of series `options.name`, default 'last'), a pointer file `<name>.json` (the same), a checkpoint
 * JSON `<name>-<step>-<save>.json`, or its `.safetensors` file. For a directory or pointer, a damaged pointer or
 * newest checkpoint falls back to the newest one that verifies, and `problems` says why.
 * @returns the checkpoint; its tensors belong to the caller (dispose()).
 * @throws CheckpointError naming the file: missing, truncated, checksum mismatch, unreadable JSON, other
 * format version, or no checkpoint at all.
 */
export function readCheckpoint(path: string, options: ReadCheckpointOptions = {}): LoadedCheckpoint {
  const io = options.fs ?? nodeFs;
  const { checkpoint, problems } = resolve(io, path, options.name ?? 'last');
  const { tensors } = decodeSafetensors(checkpoint.bytes, checkpoint.tensorsFile);
  return {
    file: checkpoint.file, tensorsFile: checkpoint.tensorsFile, meta: checkpoint.meta, tensors, problems,
    dispose: () => { for (const value of tensors.values()) value.dispose(); },
  };
}

/**
 * The path of the latest complete checkpoint JSON of series `options.name` (default 'last') in a run
 * directory (or its `checkpoints/` directory), verified; undefined when there is none at all (a new run).
 * @throws CheckpointError when checkpoint files exist but none verifies (rather than silently restarting).
 */
export function findLatestCheckpoint(runDir: string, options: ReadCheckpointOptions = {}): string | undefined {
  const io = options.fs ?? nodeFs;
  const name = options.name ?? 'last';
  expectSeriesName(name);
  return findLatest(io, checkpointDirectory(io, runDir), name)?.checkpoint.file;
}

function checkpointDirectory(io: CheckpointFs, directory: string): string {
  const nested = join(directory, CHECKPOINT_DIR);
  return pathKind(io, nested) === 'directory' ? nested : directory;
}

function resolve(io: CheckpointFs, path: string, name: string): LatestCheckpoint {
  expectSeriesName(name);
  const kind = pathKind(io, path);
  if (kind === undefined) throw new CheckpointError('missing file: no such file or directory', path);
  if (kind === 'directory') {
    const directory = checkpointDirectory(io, path);
    const latest = findLatest(io, directory, name);
    if (latest === undefined) throw new CheckpointError(`missing file: no checkpoint '${name}' (no ${pointerFileName(name)} in ${directory})`, path);
    return latest;
  }
  const directory = dirname(path);
  const file = basename(path);
  if (file.endsWith('.safetensors')) return { checkpoint: verifyTensorsPath(io, directory, file, path), problems: [] };
  const decoded = decodeChecked(readBytes(io, path), path);
  if (decoded.kind === 'pointer') {
    const latest = findLatest(io, directory, file.replace(/\.json$/, ''));
    if (latest === undefined) throw new CheckpointError('missing file', path);
    return latest;
  }
  return { checkpoint: verifyCheckpoint(io, directory, file), problems: [] };
}

function verifyTensorsPath(io: CheckpointFs, directory: string, file: string, path: string): LatestCheckpoint['checkpoint'] {
  const json = jsonNameForTensors(file);
  if (json === undefined) {
    throw new CheckpointError('not a contraseg checkpoint tensors file (<name>-<step>-<save>.safetensors); pass the run directory or the checkpoint .json', path);
  }
  const checkpoint = verifyCheckpoint(io, directory, json);
  if (checkpoint.meta.tensors.file !== file) {
    throw new CheckpointError(`${json} names ${checkpoint.meta.tensors.file}, not this file; pass ${json} itself`, path);
  }
  return checkpoint;
}

/**
 * readCheckpoint + restoreCheckpoint + dispose: what `--resume <run dir or checkpoint>` does.
 * @returns the restored state and the path of the checkpoint JSON used.
 * @throws CheckpointError as readCheckpoint and restoreCheckpoint do.
 */
export function resumeFromCheckpoint(path: string, targets: RestoreTargets, options: ReadCheckpointOptions = {}): RestoredState & { file: string; problems: string[] } {
  const checkpoint = readCheckpoint(path, options);
  try {
    return { ...restoreCheckpoint(checkpoint, targets), file: checkpoint.file, problems: checkpoint.problems };
  } finally {
    checkpoint.dispose();
  }
}
