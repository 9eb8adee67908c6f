/**
 * Error classes of contraseg. Every error a user can reach is a `ContrasegError` with a stable `code`;
 * the CLI maps codes to exit codes and prints no stack for them.
 */

/** Stable machine-readable error codes. */
export type ErrorCode = 'ENGINE' | 'CONFIG' | 'DATASET' | 'SHAPE' | 'CHECKPOINT' | 'STATE_DICT' | 'NUMERIC' | 'INTERRUPTED' | 'DISTRIBUTED';

/** Base class of every contraseg error. */
export class ContrasegError extends Error {
  /** Stable code, e.g. for exit-code mapping. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A libtorch operation failed (bad operand shapes, dtypes, a disposed tensor...). */
export class EngineError extends ContrasegError {
  constructor(message: string) {
    super('ENGINE', message);
  }
}

/** A configuration value is invalid. */
export class ConfigError extends ContrasegError {
  constructor(message: string) {
    super('CONFIG', message);
  }
}

/** A dataset file is missing, unreadable or inconsistent. `file` names it when known. */
export class DatasetError extends ContrasegError {
  readonly file: string | undefined;
  constructor(message: string, file?: string) {
    super('DATASET', file === undefined ? message : `${file}: ${message}`);
    this.file = file;
  }
}

/** A tensor has the wrong shape or dtype for the call. */
export class ShapeError extends ContrasegError {
  constructor(message: string) {
    super('SHAPE', message);
  }
}

/** A checkpoint, weights file or other run-dir file cannot be read, written or applied. `file` names it when known. */
export class CheckpointError extends ContrasegError {
  readonly file: string | undefined;
  constructor(message: string, file?: string) {
    super('CHECKPOINT', file === undefined ? message : `${file}: ${message}`);
    this.file = file;
  }
}

/** A state dict does not match a module: lists every missing, unexpected and mismatched key. */
export class StateDictError extends ContrasegError {
  readonly missing: string[];
  readonly unexpected: string[];
  readonly mismatched: string[];
  constructor(missing: string[], unexpected: string[], mismatched: string[]) {
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`missing keys: ${missing.join(', ')}`);
    if (unexpected.length > 0) parts.push(`unexpected keys: ${unexpected.join(', ')}`);
    if (mismatched.length > 0) parts.push(`shape mismatches: ${mismatched.join('; ')}`);
    super('STATE_DICT', `state dict does not match the module (${parts.join('; ')}). ` +
      'Check that the weights were saved from the same architecture, or load with { strict: false } to skip missing and unexpected keys.');
    this.missing = missing;
    this.unexpected = unexpected;
    this.mismatched = mismatched;
  }
}

/**
 * A loader worker thread died (out of memory, an uncaught error, `process.exit`) and could not be replaced,
 * or kept dying on the same batch. A DatasetError (code DATASET), since it stops the data; `reason` is why
 * the worker died, e.g. 'ERR_WORKER_OUT_OF_MEMORY: ...' or 'exit code 3'.
 */
export class LoaderWorkerError extends DatasetError {
  readonly reason: string;
  constructor(message: string, reason: string) {
    super(message);
    this.reason = reason;
  }
}

/** Training diverged: a loss or gradient became NaN or infinite. The message names the stage and step. */
export class NumericalError extends ContrasegError {
  constructor(message: string) {
    super('NUMERIC', message);
  }
}

/** A run stopped on request (Ctrl-C, SIGTERM) after writing a checkpoint; `--resume` continues it. */
export class InterruptedError extends ContrasegError {
  /** The signal that asked for the stop, when one did. */
  readonly signal: NodeJS.Signals | undefined;
  constructor(message: string, signal?: NodeJS.Signals) {
    super('INTERRUPTED', message);
    this.signal = signal;
  }
}

/** What went wrong in a distributed collective or rendezvous. */
export type DistributedErrorKind = 'timeout' | 'peer' | 'store' | 'usage' | 'unavailable';

/**
 * A c10d / Gloo operation failed: a peer died or closed its connection (`peer`), a rendezvous or collective
 * passed its timeout (`timeout`), the TCPStore could not bind or connect (`store`), a call was malformed
 * (`usage`), or the addon was built without Gloo (`unavailable`).
 */
export class DistributedError extends ContrasegError {
  readonly kind: DistributedErrorKind;
  constructor(message: string, kind: DistributedErrorKind) {
    super('DISTRIBUTED', message);
    this.kind = kind;
  }
}
