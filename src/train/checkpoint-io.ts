/**
 * Durable file writes for checkpoints: temp file, fsync, rename, fsync of the directory. After
 * writeDurable returns, the file survives a crash or power loss with its full content; before it
 * returns, a crash leaves the previous file (or none) under the final name, never a torn one.
 *
 * Every call goes through a small `CheckpointFs` so that tests can inject failures (a full disk, a
 * kill between two writes) without root-proof tricks: tests run as root, where read-only modes do not
 * stop writes.
 */
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CheckpointError } from '../errors.js';

/** The file-system calls checkpoints make (node:fs's synchronous functions by default). */
export interface CheckpointFs {
  openSync(path: string, flags: string): number;
  writeSync(fd: number, data: Uint8Array): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  rmSync(path: string, options: { force: boolean }): void;
  readFileSync(path: string): Buffer;
  readdirSync(path: string): string[];
  mkdirSync(path: string, options: { recursive: boolean }): unknown;
  statSync(path: string): { isDirectory(): boolean; isFile(): boolean };
}

/** node:fs itself. */
export const nodeFs: CheckpointFs = {
  openSync: (path, flags) => fs.openSync(path, flags),
  writeSync: (fd, data) => fs.writeSync(fd, data),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  closeSync: (fd) => fs.closeSync(fd),
  renameSync: (from, to) => fs.renameSync(from, to),
  rmSync: (path, options) => fs.rmSync(path, options),
  readFileSync: (path) => fs.readFileSync(path),
  readdirSync: (path) => fs.readdirSync(path),
  mkdirSync: (path, options) => fs.mkdirSync(path, options),
  statSync: (path) => fs.statSync(path),
};

let tempCounter = 0;

/** The temp name writeDurable uses for `file`: hidden, in the same directory (rename must not cross devices). */
export function tempPathFor(file: string): string {
  tempCounter += 1;
  return join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${tempCounter}`);
}

/** True for names written by tempPathFor for a file whose name starts with `prefix`. */
export function isTempName(name: string, prefix: string): boolean {
  return name.startsWith(`.${prefix}`) && /\.tmp-\d+-\d+$/.test(name);
}

/**
 * Writes `bytes` (or the pieces of `bytes` one after the other) to `file` durably and atomically (see the
 * file comment). `beforeRename` runs once the temp file is complete and synced, just before it is renamed
 * into place (the test-only slow-checkpoint pause uses it).
 * @throws CheckpointError naming `file` and the system's reason (ENOSPC, EROFS, ENOTDIR...); the temp
 * file is removed and whatever was under `file` before is untouched.
 */
export function writeDurable(io: CheckpointFs, file: string, bytes: Uint8Array | readonly Uint8Array[], beforeRename?: () => void): void {
  const temp = tempPathFor(file);
  try {
    const fd = io.openSync(temp, 'w');
    try {
      for (const piece of bytes instanceof Uint8Array ? [bytes] : bytes) writeAll(io, fd, piece);
      io.fsyncSync(fd);
    } finally {
      io.closeSync(fd);
    }
    beforeRename?.();
    io.renameSync(temp, file);
  } catch (error) {
    removeQuietly(io, temp);
    throw new CheckpointError(`cannot write (${describe(error)}); the previous checkpoint, if any, is unchanged`, file);
  }
  syncDirectory(io, dirname(file));
}

// writeSync may write fewer bytes than asked (it does for large buffers on some systems).
function writeAll(io: CheckpointFs, fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const written = io.writeSync(fd, bytes.subarray(offset));
    if (written <= 0) throw new Error(`write returned ${written} with ${bytes.byteLength - offset} bytes left`);
    offset += written;
  }
}

/**
 * fsyncs a directory so that renames and deletions in it are durable (a rename is only on disk once its
 * directory is). File systems that cannot fsync a directory (EINVAL, EISDIR, ENOTSUP) are skipped.
 * @throws CheckpointError naming the directory for any other failure.
 */
export function syncDirectory(io: CheckpointFs, directory: string): void {
  let fd: number | undefined;
  try {
    fd = io.openSync(directory, 'r');
    io.fsyncSync(fd);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'ENOTSUP' && code !== 'EPERM') {
      throw new CheckpointError(`cannot sync the directory (${describe(error)})`, directory);
    }
  } finally {
    if (fd !== undefined) io.closeSync(fd);
  }
}

/**
 * TEST ONLY: the environment variable that makes every checkpoint write pause this many milliseconds
 * between writing its temp file and renaming it into place, so that a crash test's SIGKILL can land in
 * the middle of a save (src/train/sigkill.test.ts). Unset (the normal case), saves never wait.
 */
export const SLOW_CHECKPOINT_ENV = 'CONTRASEG_TEST_SLOW_CHECKPOINT_MS';

/**
 * The test-only pause of SLOW_CHECKPOINT_ENV as a beforeRename callback, or undefined when it is unset.
 * @throws CheckpointError when it is set to something other than a non-negative number of milliseconds.
 */
export function testCheckpointPause(): (() => void) | undefined {
  const text = process.env[SLOW_CHECKPOINT_ENV];
  if (text === undefined || text === '') return undefined;
  const ms = Number(text);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new CheckpointError(`${SLOW_CHECKPOINT_ENV} (test only) must be a number of milliseconds >= 0, got ${JSON.stringify(text)}; unset it outside tests`);
  }
  const cell = new Int32Array(new SharedArrayBuffer(4));
  return () => { Atomics.wait(cell, 0, 0, ms); }; // a synchronous sleep: the writing half of a save is synchronous (in the writer's thread)
}

/** Reads a whole file. @throws CheckpointError "missing file" or "cannot read" naming it. */
export function readBytes(io: CheckpointFs, file: string): Buffer {
  try {
    return io.readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new CheckpointError('missing file', file);
    throw new CheckpointError(`cannot read (${describe(error)})`, file);
  }
}

/** Deletes a file, ignoring failures (pruning and cleanup must never fail a save that already committed). */
export function removeQuietly(io: CheckpointFs, file: string): void {
  try {
    io.rmSync(file, { force: true });
  } catch {
    // A leftover file is harmless: the next save prunes it again.
  }
}

/** The kind of a path: 'file', 'directory' or undefined when it does not exist. */
export function pathKind(io: CheckpointFs, path: string): 'file' | 'directory' | undefined {
  try {
    const stats = io.statSync(path);
    return stats.isDirectory() ? 'directory' : 'file';
  } catch {
    return undefined;
  }
}

/** A system error's message ("ENOSPC: no space left on device, write"). */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
