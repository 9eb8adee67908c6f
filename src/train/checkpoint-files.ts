/**
 * The writing half of a checkpoint save: from a snapshot that is plain data (the safetensors file in
 * pieces, the JSON half without its checksum), the SHA-256 of the tensors file and the three durable
 * files in their fixed order (tensors, the JSON naming them, the pointer: the commit point), then pruning.
 * No tensors and no libtorch here, so that it runs in the background writer's thread as well
 * (checkpoint-worker.ts) as inside the synchronous saveCheckpoint.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { CHECKPOINT_VERSION, POINTER_FORMAT, encodeChecked, type CheckpointMeta } from './checkpoint-format.js';
import { testCheckpointPause, writeDurable, type CheckpointFs } from './checkpoint-io.js';
import { pointerFileName, pruneSeries } from './checkpoint-store.js';

/** A checkpoint's JSON half before the tensors file's SHA-256 is known. */
export type UnhashedMeta = Omit<CheckpointMeta, 'tensors'> & { tensors: Omit<CheckpointMeta['tensors'], 'sha256'> };

/**
 * Everything a save writes, as structured-clonable data (it crosses to the writer thread; the `tensors`
 * chunks' ArrayBuffers are transferred, not copied).
 */
export interface CheckpointJob {
  /** `<runDir>/checkpoints`, already created. */
  readonly directory: string;
  /** The series ('last', 'best', ...). */
  readonly name: string;
  /** File names of this save (no directory). */
  readonly names: { readonly json: string; readonly tensors: string };
  /** Checkpoints of the series to keep, this one included. */
  readonly keep: number;
  /** The safetensors file: its header (length prefix + JSON), then the data (one chunk holding every tensor). */
  readonly header: Uint8Array;
  readonly tensors: readonly Uint8Array[];
  readonly meta: UnhashedMeta;
}

/** Lowercase hex SHA-256 of the tensors file a job writes (header then chunks, as on disk). */
export function tensorsSha256(job: Pick<CheckpointJob, 'header' | 'tensors'>): string {
  const hash = createHash('sha256').update(job.header);
  for (const chunk of job.tensors) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Writes a job's three files durably, in order (the pointer's rename commits the save), then prunes the
 * series to `keep`. Returns the path of the checkpoint's JSON.
 * @throws CheckpointError naming the file that could not be written; the previous checkpoint stays the latest.
 */
export function writeCheckpointFiles(io: CheckpointFs, job: CheckpointJob): string {
  const meta: CheckpointMeta = { ...job.meta, tensors: { ...job.meta.tensors, sha256: tensorsSha256(job) } };
  const pause = testCheckpointPause();
  writeDurable(io, join(job.directory, job.names.tensors), [job.header, ...job.tensors], pause);
  writeDurable(io, join(job.directory, job.names.json), encodeChecked(meta), pause);
  writeDurable(io, join(job.directory, pointerFileName(job.name)),
    encodeChecked({ format: POINTER_FORMAT, version: CHECKPOINT_VERSION, checkpoint: job.names.json, sequence: meta.sequence, step: meta.step }), pause);
  pruneSeries(io, job.directory, job.name, job.names.json, job.keep);
  return join(job.directory, job.names.json);
}
