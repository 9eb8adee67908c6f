/**
 * A pool of loader worker threads, one batch per worker at a time, FIFO queue. Workers are ref'd only
 * while they hold a request, so an idle or forgotten pool never keeps the process alive; dispose()
 * terminates them.
 *
 * A worker that dies (ERR_WORKER_OUT_OF_MEMORY, an uncaught error, process.exit) is replaced and its batch
 * is built again on the new worker: batches are deterministic per sample seed, so a retried batch is the
 * same batch. Retries are bounded, so a pool whose workers keep dying fails fast with a LoaderWorkerError
 * instead of leaving requests waiting on nothing. (A native crash inside a worker, e.g. a segfault in an
 * image decoder, ends the whole process: no thread can survive it.)
 */
import { Worker } from 'node:worker_threads';
import { ConfigError, DatasetError, LoaderWorkerError } from '../errors.js';
import type { BatchItem, BatchRecipe, RawBatch } from './batch.js';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './loader-worker.js';
import type { FileDatasetDescriptor } from './types.js';

/** Attempts at one batch: a batch whose worker died is built once more on a fresh worker, then fails. */
export const MAX_BATCH_ATTEMPTS = 2;
/** Worker restarts allowed without a batch built in between (a worker that dies at start-up dies again). */
export const MAX_RESTARTS_WITHOUT_PROGRESS = 3;

const ADVICE = 'A worker runs out of memory on large images or batches: lower batchSize or the crop size, ' +
  'raise the memory limit, or use workers: 0 to build batches on the main thread.';

interface Task {
  readonly items: readonly BatchItem[];
  readonly resolve: (batch: RawBatch) => void;
  readonly reject: (error: Error) => void;
  /** Workers that died holding this task. */
  crashes: number;
}

interface Slot {
  readonly worker: Worker;
  task: Task | undefined;
  /** Id of the request in flight (replies are matched against it). */
  requestId: number;
  /** Set once the worker errored or exited; its later events are ignored. */
  dead: boolean;
}

/** Starts one worker thread for a setup (the default starts loader-worker; tests pass their own). */
export type StartWorker = (setup: WorkerSetup) => Worker;

/**
 * Starts a loader worker. Under tsx (this file is .ts) the worker first registers tsx's ESM hooks and then
 * imports loader-worker.ts; Node 20 ignores `--import tsx` in a worker's execArgv. After `tsc` the
 * compiled loader-worker.js runs directly.
 */
export function startLoaderWorker(setup: WorkerSetup): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./loader-worker.ts', here).href;
    const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(bootstrap, { eval: true, workerData: setup, execArgv: [] });
  }
  return new Worker(new URL('./loader-worker.js', here), { workerData: setup });
}

/** Rebuilds on the main thread the error a worker reported (DatasetError keeps its file). */
function reviveError(error: { name: string; message: string; file?: string }): Error {
  if (error.name === 'DatasetError') {
    const prefix = error.file === undefined ? '' : `${error.file}: `;
    return new DatasetError(error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message, error.file);
  }
  if (error.name === 'ConfigError') return new ConfigError(error.message);
  return new DatasetError(`loader worker failed: ${error.name}: ${error.message}`);
}

/** Why a worker died, in one line: the error's code (ERR_WORKER_OUT_OF_MEMORY...) or name, and its message. */
function describeDeath(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return `${typeof code === 'string' ? code : error.name}: ${error.message}`;
}

/** Worker threads that build batches of one file dataset with one recipe. */
export class WorkerPool {
  private readonly setup: WorkerSetup;
  private readonly startWorker: StartWorker;
  /** Live workers only: a dead one is removed, and replaced while restarts remain. */
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private closed = false;
  /** Set once every worker died and none may be restarted: later requests fail with it at once. */
  private broken: LoaderWorkerError | undefined;
  private restartsWithoutProgress = 0;
  private nextRequestId = 0;

  /**
   * @param startWorker for tests (e.g. a worker that exits); the default runs loader-worker.
   * @param cacheBytes decoded samples each worker keeps (loader-cache.ts); 0 decodes every time.
   */
  constructor(descriptor: FileDatasetDescriptor, recipe: BatchRecipe, count: number, startWorker: StartWorker = startLoaderWorker, cacheBytes = 0) {
    this.setup = { descriptor, recipe, cacheBytes };
    this.startWorker = startWorker;
    for (let i = 0; i < count; i++) this.slots.push(this.spawn());
  }

  /**
   * Builds a batch on the next free worker.
   * @throws (rejects) DatasetError or ConfigError from the batch; LoaderWorkerError when workers keep dying.
   */
  run(items: readonly BatchItem[]): Promise<RawBatch> {
    if (this.closed) return Promise.reject(new ConfigError('the loader was disposed; create a new one.'));
    if (this.broken !== undefined) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.queue.push({ items, resolve, reject, crashes: 0 });
      this.dispatch();
    });
  }

  private spawn(): Slot {
    const slot: Slot = { worker: this.startWorker(this.setup), task: undefined, requestId: -1, dead: false };
    slot.worker.unref();
    slot.worker.on('message', (reply: WorkerReply) => this.settle(slot, reply));
    // 'error' (uncaught error, ERR_WORKER_OUT_OF_MEMORY) comes before 'exit' and says more; the first one counts.
    slot.worker.on('error', (error: Error) => this.lose(slot, describeDeath(error)));
    slot.worker.on('exit', (code: number) => this.lose(slot, `exit code ${code}`));
    return slot;
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.task !== undefined) continue;
      const task = this.queue.shift();
      if (task === undefined) return;
      slot.task = task;
      slot.requestId = this.nextRequestId++;
      slot.worker.ref();
      slot.worker.postMessage({ id: slot.requestId, items: task.items } satisfies WorkerRequest);
    }
  }

  private settle(slot: Slot, reply: WorkerReply): void {
    if (slot.dead || reply.id !== slot.requestId) return; // a stale reply; cannot happen with one request per worker
    const task = slot.task;
    slot.task = undefined;
    slot.worker.unref();
    this.restartsWithoutProgress = 0;
    if (task !== undefined) {
      if ('batch' in reply) task.resolve(reply.batch);
      else task.reject(reviveError(reply.error));
    }
    this.dispatch();
  }

  /** A worker died: retry its batch on a replacement, or fail the batch (and the pool when no worker is left). */
  private lose(slot: Slot, reason: string): void {
    if (slot.dead) return;
    slot.dead = true;
    this.slots.splice(this.slots.indexOf(slot), 1);
    slot.worker.terminate().catch(() => undefined); // after 'error' the thread may still be stopping
    if (this.closed) return;
    const task = slot.task;
    slot.task = undefined;
    if (task !== undefined && ++task.crashes >= MAX_BATCH_ATTEMPTS) {
      task.reject(new LoaderWorkerError(`the loader worker building samples ${this.describeItems(task.items)} of ${this.setup.descriptor.name} ` +
        `died ${task.crashes} times (last: ${reason}). ${ADVICE}`, reason));
    } else if (task !== undefined) {
      this.queue.unshift(task); // first in line again, on the replacement or another worker
    }
    const notRestarted = this.restart();
    if (this.slots.length > 0) {
      this.dispatch();
      return;
    }
    this.broken = new LoaderWorkerError(`every loader worker of ${this.setup.descriptor.name} died and ${notRestarted} ` +
      `(last death: ${reason}). ${ADVICE}`, reason);
    for (const queued of this.queue.splice(0)) queued.reject(this.broken);
  }

  /** Starts a replacement worker unless the restarts are used up. Returns why not, or undefined when started. */
  private restart(): string | undefined {
    if (this.restartsWithoutProgress >= MAX_RESTARTS_WITHOUT_PROGRESS) return `${MAX_RESTARTS_WITHOUT_PROGRESS} restarts built no batch`;
    this.restartsWithoutProgress++;
    try {
      this.slots.push(this.spawn());
      return undefined;
    } catch (error) {
      return `no replacement could start (${describeDeath(error as Error)})`;
    }
  }

  /** The ids of a batch's samples, e.g. "[0001TP_006690, 0001TP_006720]". */
  private describeItems(items: readonly BatchItem[]): string {
    return `[${items.map((item) => this.setup.descriptor.entries[item.index]?.id ?? `#${item.index}`).join(', ')}]`;
  }

  /** Terminates every worker; queued and running batches are rejected. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new ConfigError('the loader was disposed while a batch was pending.');
    for (const task of this.queue.splice(0)) task.reject(error);
    const slots = this.slots.splice(0);
    for (const slot of slots) {
      slot.dead = true;
      slot.task?.reject(error);
    }
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }
}
