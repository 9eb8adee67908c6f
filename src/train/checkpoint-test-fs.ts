/**
 * TEST ONLY: file-system layers for the background checkpoint writer's thread (CheckpointWriterOptions
 * .fsModule), which cannot receive functions: node:fs whose fsync blocks until the test opens a gate
 * shared with it, or whose writes to one file fail as a full disk does. Not part of the package surface.
 */
import { nodeFs, type CheckpointFs } from './checkpoint-io.js';

/** Cells of the gate (an Int32Array over a SharedArrayBuffer). */
export const GATE_OPEN = 0;
/** How many fsyncs have reached the gate (the writer thread is then blocked in one). */
export const GATE_REACHED = 1;

/** What createCheckpointFs builds (structured-cloned to the writer thread). */
export interface TestFsData {
  /** fsync blocks while gate[GATE_OPEN] is 0. */
  readonly gate?: Int32Array;
  /** Writes to the temp file of this file name fail with ENOSPC. */
  readonly fullDiskFor?: string;
}

/** A new gate, closed. */
export function closedGate(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(8));
}

/** Opens a gate: blocked fsyncs go on, later ones do not block. */
export function openGate(gate: Int32Array): void {
  Atomics.store(gate, GATE_OPEN, 1);
  Atomics.notify(gate, GATE_OPEN);
}

/** Blocks the calling thread until an fsync reached the gate (true) or `timeoutMs` passed (false). */
export function waitUntilBlocked(gate: Int32Array, timeoutMs: number): boolean {
  const deadline = Date.now() + timeoutMs;
  while (Atomics.load(gate, GATE_REACHED) === 0) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    Atomics.wait(gate, GATE_REACHED, 0, left);
  }
  return true;
}

/** The writer thread's file system for `data` (see TestFsData). */
export function createCheckpointFs(data: TestFsData): CheckpointFs {
  const failing = new Set<number>();
  const isTarget = (path: string): boolean => data.fullDiskFor !== undefined && path.includes(`.${data.fullDiskFor}.tmp-`);
  return {
    ...nodeFs,
    openSync: (path, flags) => {
      const fd = nodeFs.openSync(path, flags);
      if (isTarget(path)) failing.add(fd);
      return fd;
    },
    writeSync: (fd, bytes) => {
      if (failing.has(fd)) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return nodeFs.writeSync(fd, bytes);
    },
    fsyncSync: (fd) => {
      const gate = data.gate;
      if (gate !== undefined && Atomics.load(gate, GATE_OPEN) === 0) {
        Atomics.add(gate, GATE_REACHED, 1);
        Atomics.notify(gate, GATE_REACHED);
        while (Atomics.load(gate, GATE_OPEN) === 0) Atomics.wait(gate, GATE_OPEN, 0, 1000);
      }
      nodeFs.fsyncSync(fd);
    },
  };
}
