/**
 * Checkpoints off the training step's path. A save costs the training loop only the snapshot (the state
 * copied once, snapshotCheckpoint); the SHA-256 and the three durable files (temp + fsync + rename +
 * directory fsync, in the same order and with the same commit point as saveCheckpoint) happen in a worker
 * thread, to which the copied buffers are transferred, while the loop trains on.
 *
 * At most one write is in flight: a save first waits for the previous one. A failed write (disk full,
 * read-only directory) is raised, as the same CheckpointError naming the file, by the next save() or
 * flush(), whichever comes first; it leaves the previous checkpoint the latest. Never an unhandled rejection.
 *
 * What a crash (SIGKILL, power loss) can lose grows accordingly: one checkpoint interval plus the steps run
 * while the last write was in flight (at most one more interval: the save after it waits for it), instead
 * of one interval. Flush at every point that must be durable: the end of a stage, a stop on a signal, a
 * `best` save, the end of the run.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { CheckpointError } from '../errors.js';
import { snapshotCheckpoint, type CheckpointContent } from './checkpoint.js';
import { writeCheckpointFiles, type CheckpointJob } from './checkpoint-files.js';
import { nodeFs } from './checkpoint-io.js';

/** What the writer thread starts with (workerData). */
export interface WriterThreadSetup {
  /** TEST ONLY: URL of a module whose createCheckpointFs(fsData) gives the thread's file-system layer. */
  readonly fsModule?: string;
  readonly fsData?: unknown;
}

/** The writer thread's answer to one job (with the job's buffers handed back, to be dropped here). */
export type WriterReply = ({ file: string } | { error: { name: string; message: string; file?: string } }) & { buffers?: ArrayBuffer[] };

/** Options of a CheckpointWriter. */
export interface CheckpointWriterOptions {
  /**
   * TEST ONLY: a module (URL) exporting `createCheckpointFs(data): CheckpointFs`, loaded in the writer
   * thread instead of node:fs (a file system that fails or blocks on purpose); `fsData` is passed to it
   * (structured-cloned: a SharedArrayBuffer stays shared).
   */
  readonly fsModule?: URL;
  readonly fsData?: unknown;
}

/** One save's write in flight. */
interface InFlight {
  readonly done: Promise<void>;
  readonly job: CheckpointJob;
  settle(reply: WriterReply): void;
}

/**
 * What a training run saves through: a CheckpointWriter (background) or a SyncCheckpointWriter. save()
 * resolves once the loop may change the state; flush() once every save is durable.
 */
export interface CheckpointSink {
  open(): this;
  save(runDir: string, name: string, content: CheckpointContent, options?: { keep?: number }): Promise<string>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The same interface over saveCheckpoint: every save is durable before save() returns (config
 * checkpointWrites 'sync', the default), so a kill loses at most one checkpoint interval.
 */
export class SyncCheckpointWriter implements CheckpointSink {
  /** The last save's data buffer: the next save of the same model copies into it instead of allocating. */
  private spare: ArrayBuffer | undefined;

  open(): this {
    return this;
  }

  /** What saveCheckpoint does, on this thread. @throws CheckpointError as saveCheckpoint does. */
  async save(runDir: string, name: string, content: CheckpointContent, options: { keep?: number } = {}): Promise<string> {
    const job = snapshotCheckpoint(nodeFs, runDir, name, content, options.keep ?? 1, this.spare);
    this.spare = job.tensors[0]?.buffer as ArrayBuffer | undefined;
    return writeCheckpointFiles(nodeFs, job);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}

/** Writes checkpoints in the background, one at a time (see the file comment). Call close() when done. */
export class CheckpointWriter implements CheckpointSink {
  private worker: Worker | undefined;
  private inFlight: InFlight | undefined;
  private failure: CheckpointError | undefined;
  /** The data buffer the writer thread handed back after the last write, for the next snapshot to reuse. */
  private spare: ArrayBuffer | undefined;

  constructor(private readonly options: CheckpointWriterOptions = {}) {}

  /**
   * Starts the writer thread now rather than at the first save, so that its start-up (a new V8 isolate
   * loading its modules) overlaps the start of training instead of a later step. Returns this.
   */
  open(): this {
    this.thread().unref(); // idle until the first save
    return this;
  }

  /**
   * Saves a checkpoint as saveCheckpoint does, but returns once the state is copied, before the files are
   * durable: the path of the checkpoint's JSON to be. Waits first for the previous write to finish.
   * @throws CheckpointError of the previous write if it failed (this save is then not made), or for
   * content saveCheckpoint rejects.
   */
  async save(runDir: string, name: string, content: CheckpointContent, options: { keep?: number } = {}): Promise<string> {
    await this.flush();
    const job = snapshotCheckpoint(nodeFs, runDir, name, content, options.keep ?? 1, this.spare);
    this.spare = undefined; // transferred with the job; the thread hands it back
    this.dispatch(job);
    return join(job.directory, job.names.json);
  }

  /**
   * Waits until every save made so far is durable.
   * @throws CheckpointError of a write that failed (once: a later flush does not raise it again).
   */
  async flush(): Promise<void> {
    await this.inFlight?.done;
    const failure = this.failure;
    this.failure = undefined;
    if (failure !== undefined) throw failure;
  }

  /** flush(), then stops the writer thread (a later save starts a new one). @throws as flush() does. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      const worker = this.worker;
      this.worker = undefined;
      await worker?.terminate();
    }
  }

  private dispatch(job: CheckpointJob): void {
    let settle: (reply: WriterReply) => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      settle = (reply) => {
        if (this.inFlight?.job !== job) return; // answered already (an error event after the reply, say)
        this.inFlight = undefined;
        this.worker?.unref(); // idle: an unclosed writer does not keep the process alive
        this.spare = reply.buffers?.[0];
        if ('error' in reply) this.failure = reviveError(reply.error, join(job.directory, job.names.tensors));
        resolve();
      };
    });
    this.inFlight = { done, job, settle };
    const worker = this.thread();
    worker.ref(); // a write in flight keeps the process alive until it is durable
    worker.postMessage(job, job.tensors.map((chunk) => chunk.buffer as ArrayBuffer));
  }

  private thread(): Worker {
    if (this.worker !== undefined) return this.worker;
    const setup: WriterThreadSetup = this.options.fsModule === undefined ? {} : { fsModule: this.options.fsModule.href, fsData: this.options.fsData };
    const worker = startWriterThread(setup);
    const lost = (why: string): void => {
      if (this.worker === worker) this.worker = undefined;
      this.inFlight?.settle({ error: { name: 'Error', message: `the checkpoint writer thread ${why}` } });
    };
    worker.on('message', (reply: WriterReply) => this.inFlight?.settle(reply));
    worker.on('error', (error) => lost(`failed (${error.message})`));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    this.worker = worker;
    return worker;
  }
}

/**
 * The writer thread allocates little and keeps nothing (the snapshots are buffers outside its heap, handed
 * back after each write), so a small young generation: with V8's default one the process's RSS grew by
 * 8.8-12 MB over 150 steps with a save every 25 in src/train/loop-leak.test.ts, with this one 3.8-6.9 MB.
 */
const WRITER_LIMITS = { maxYoungGenerationSizeMb: 1 };

/**
 * Starts the writer thread. Under tsx (this file is .ts) it first registers tsx's ESM hooks, then imports
 * checkpoint-worker.ts (Node 20 ignores `--import tsx` in a worker's execArgv); after `tsc` the compiled
 * checkpoint-worker.js runs directly.
 */
function startWriterThread(setup: WriterThreadSetup): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./checkpoint-worker.ts', here).href;
    const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(bootstrap, { eval: true, workerData: setup, execArgv: [], resourceLimits: WRITER_LIMITS });
  }
  return new Worker(new URL('./checkpoint-worker.js', here), { workerData: setup, resourceLimits: WRITER_LIMITS });
}

/** The CheckpointError a write failed with, rebuilt on this thread (it keeps its file); anything else names the tensors file. */
function reviveError(error: { name: string; message: string; file?: string }, tensorsFile: string): CheckpointError {
  if (error.name === 'CheckpointError' && error.file !== undefined) {
    const prefix = `${error.file}: `;
    return new CheckpointError(error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message, error.file);
  }
  return new CheckpointError(`cannot write (${error.name}: ${error.message}); the previous checkpoint, if any, is unchanged`, tensorsFile);
}
