/**
 * The checkpoint directory of a run: file names, finding the latest complete checkpoint of a series,
 * verifying a checkpoint's two files, and pruning old ones. Layout (`<run>/checkpoints/`):
 *
 *   <name>-<step>-<save>.safetensors   tensors
 *   <name>-<step>-<save>.json          everything else; names and checksums the tensors file
 *   <name>.json                        pointer: which <name>-<step>-<save>.json is the latest
 *
 * <step> has 9 digits; <save> counts the saves of the series (1, 2, ...), so no save reuses a file name
 * and nothing a committed checkpoint needs is ever overwritten, even when a run resumed from an older
 * checkpoint saves a step again. A save writes the three in that order, each durably (checkpoint-io.ts);
 * the pointer's rename is the commit point.
 */
import { join } from 'node:path';
import { CheckpointError } from '../errors.js';
import { decodeChecked, sha256Hex, type CheckpointMeta } from './checkpoint-format.js';
import { isTempName, pathKind, readBytes, removeQuietly, syncDirectory, type CheckpointFs } from './checkpoint-io.js';

/** Sub-directory of a run directory that holds its checkpoints. */
export const CHECKPOINT_DIR = 'checkpoints';

const NAME_PATTERN = /^[A-Za-z0-9_]+$/;
const STEP_DIGITS = 9;

/** @throws CheckpointError unless `name` is letters, digits and underscores (a '-' would make file names ambiguous). */
export function expectSeriesName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new CheckpointError(`checkpoint name '${name}' must be letters, digits and underscores, e.g. 'last' or 'best'`);
  }
}

/** File names of one checkpoint of a series: save number `sequence` at `step`. */
export function checkpointFileNames(name: string, step: number, sequence: number): { json: string; tensors: string } {
  const stem = `${name}-${String(step).padStart(STEP_DIGITS, '0')}-${sequence}`;
  return { json: `${stem}.json`, tensors: `${stem}.safetensors` };
}

/** The save number in a file name of series `name` (JSON or tensors), or undefined for other files. */
function sequenceOf(name: string, file: string, extension: 'json' | 'safetensors' | 'any'): number | undefined {
  const match = /^([A-Za-z0-9_]+)-\d+-(\d+)\.(json|safetensors)$/.exec(file);
  if (match === null || match[1] !== name || (extension !== 'any' && match[3] !== extension)) return undefined;
  return Number(match[2]);
}

/** The pointer file of a series. */
export function pointerFileName(name: string): string {
  return `${name}.json`;
}

/** The checkpoint JSON that names a tensors file, from the tensors file's name; undefined if not ours. */
export function jsonNameForTensors(tensorsName: string): string | undefined {
  const match = /^([A-Za-z0-9_]+-\d+-\d+)\.safetensors$/.exec(tensorsName);
  return match === null ? undefined : `${match[1]}.json`;
}

/** A checkpoint whose JSON is valid and whose tensors file has the recorded length and SHA-256. */
export interface VerifiedCheckpoint {
  /** Path of the checkpoint's JSON. */
  file: string;
  /** Path of its tensors file. */
  tensorsFile: string;
  meta: CheckpointMeta;
  /** The tensors file's bytes. */
  bytes: Buffer;
}

/** Reads and verifies a checkpoint's JSON (not its tensors). @throws CheckpointError naming the file. */
export function readMeta(io: CheckpointFs, file: string): CheckpointMeta {
  const decoded = decodeChecked(readBytes(io, file), file);
  if (decoded.kind !== 'checkpoint') throw new CheckpointError('is a pointer file, not a checkpoint', file);
  return decoded.meta;
}

/**
 * Reads a checkpoint's JSON and its tensors file and checks the length and SHA-256.
 * @throws CheckpointError naming the file that is missing, truncated, altered or invalid.
 */
export function verifyCheckpoint(io: CheckpointFs, directory: string, jsonName: string): VerifiedCheckpoint {
  const file = join(directory, jsonName);
  const meta = readMeta(io, file);
  const tensorsFile = join(directory, meta.tensors.file);
  const bytes = readBytes(io, tensorsFile);
  if (bytes.byteLength !== meta.tensors.bytes) {
    throw new CheckpointError(`truncated or altered: ${bytes.byteLength} bytes, ${file} recorded ${meta.tensors.bytes}`, tensorsFile);
  }
  if (sha256Hex(bytes) !== meta.tensors.sha256) {
    throw new CheckpointError(`checksum mismatch: the file was altered or truncated (SHA-256 differs from the one in ${file})`, tensorsFile);
  }
  return { file, tensorsFile, meta, bytes };
}

/** The checkpoint JSONs of a series in a directory, by file name. */
function listSeries(io: CheckpointFs, directory: string, name: string): string[] {
  return listDirectory(io, directory).filter((entry) => sequenceOf(name, entry, 'json') !== undefined);
}

function listDirectory(io: CheckpointFs, directory: string): string[] {
  try {
    return io.readdirSync(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CheckpointError(`cannot list the directory (${(error as Error).message})`, directory);
  }
}

/** The series' readable JSONs, newest save first; unreadable ones go to `problems`. */
function seriesBySequence(io: CheckpointFs, directory: string, name: string, problems: string[]): { json: string; meta: CheckpointMeta }[] {
  const readable: { json: string; meta: CheckpointMeta }[] = [];
  for (const json of listSeries(io, directory, name)) {
    try {
      readable.push({ json, meta: readMeta(io, join(directory, json)) });
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  return readable.sort((a, b) => b.meta.sequence - a.meta.sequence || b.meta.step - a.meta.step);
}

/**
 * The number of the next save of a series: one past every number in a file name of the series (readable
 * or not, committed or debris of a crashed save), so the save's file names are new.
 */
export function nextSequence(io: CheckpointFs, directory: string, name: string): number {
  const numbers = listDirectory(io, directory).map((entry) => sequenceOf(name, entry, 'any') ?? 0);
  return Math.max(0, ...numbers) + 1;
}

/** The latest complete checkpoint of a series, and what was wrong with anything tried before it. */
export interface LatestCheckpoint {
  checkpoint: VerifiedCheckpoint;
  /** Why the pointer or newer checkpoints were skipped (empty when the pointer was fine). */
  problems: string[];
}

/**
 * Finds the latest complete checkpoint of series `name`: the pointer's target if it verifies, otherwise the
 * newest save (by sequence) that verifies. Returns undefined when the series has no file at all.
 * @throws CheckpointError listing every problem when files exist but none verifies.
 */
export function findLatest(io: CheckpointFs, directory: string, name: string): LatestCheckpoint | undefined {
  const problems: string[] = [];
  const pointerFile = join(directory, pointerFileName(name));
  let pointerTarget: string | undefined;
  if (pathKind(io, pointerFile) !== undefined) {
    try {
      const decoded = decodeChecked(readBytes(io, pointerFile), pointerFile);
      if (decoded.kind !== 'pointer') throw new CheckpointError('expected a pointer file, found a checkpoint', pointerFile);
      pointerTarget = decoded.pointer.checkpoint;
      return { checkpoint: verifyCheckpoint(io, directory, pointerTarget), problems };
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  const candidates = seriesBySequence(io, directory, name, problems).filter(({ json }) => json !== pointerTarget);
  for (const { json } of candidates) {
    try {
      return { checkpoint: verifyCheckpoint(io, directory, json), problems };
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length === 0) return undefined;
  throw new CheckpointError(`no complete checkpoint '${name}' here: ${problems.join('; ')}. ` +
    'Delete the damaged files to start afresh, or pass a checkpoint .json that is intact.', directory);
}

/**
 * Deletes what the series no longer needs once `current` is committed: JSONs beyond the `keep` newest
 * saves (`current` always stays), tensors files no kept JSON names, and temp files of crashed saves.
 * Never throws: a leftover file is pruned by the next save.
 */
export function pruneSeries(io: CheckpointFs, directory: string, name: string, current: string, keep: number): void {
  try {
    const series = seriesBySequence(io, directory, name, []);
    if (!series.some(({ json }) => json === current)) return; // cannot tell what `current` needs: delete nothing
    const kept = [current, ...series.map(({ json }) => json).filter((json) => json !== current)].slice(0, keep);
    const keptTensors = new Set(series.filter(({ json }) => kept.includes(json)).map(({ meta }) => meta.tensors.file));
    // JSONs first: a JSON must never name a tensors file that is gone.
    for (const json of listSeries(io, directory, name)) {
      if (!kept.includes(json)) removeQuietly(io, join(directory, json));
    }
    for (const entry of listDirectory(io, directory)) {
      const orphan = sequenceOf(name, entry, 'safetensors') !== undefined && !keptTensors.has(entry);
      const crashed = isTempName(entry, `${name}-`) || isTempName(entry, pointerFileName(name));
      if (orphan || crashed) removeQuietly(io, join(directory, entry));
    }
    syncDirectory(io, directory);
  } catch {
    // See above: pruning is best effort.
  }
}
