/**
 * A pool of loader worker threads, one batch per worker at a time, FIFO queue. Workers are ref'd only
 * while they hold a request, so an idle or forgotten pool never keeps the process alive; dispose()
 * terminates them.
 */
import { Worker } from 'node:worker_threads';
import { ConfigError, ContrasegError, DatasetError } from '../errors.js';
import type { BatchItem, BatchRecipe, RawBatch } from './batch.js';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './loader-worker.js';
import type { FileDatasetDescriptor } from './types.js';

interface Task {
  readonly items: readonly BatchItem[];
  readonly resolve: (batch: RawBatch) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  task: Task | undefined;
  /** Id of the request in flight (replies are matched against it). */
  requestId: number;
}

/**
 * Starts a loader worker. Under tsx (this file is .ts) the worker first registers tsx's ESM hooks and then
 * imports loader-worker.ts; Node 20 ignores `--import tsx` in a worker's execArgv. After `tsc` the
 * compiled loader-worker.js runs directly.
 */
function startWorker(setup: WorkerSetup): Worker {
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

/** Worker threads that build batches of one file dataset with one recipe. */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private closed = false;
  private nextRequestId = 0;

  constructor(descriptor: FileDatasetDescriptor, recipe: BatchRecipe, count: number) {
    for (let i = 0; i < count; i++) {
      const slot: Slot = { worker: startWorker({ descriptor, recipe }), task: undefined, requestId: -1 };
      slot.worker.unref();
      slot.worker.on('message', (reply: WorkerReply) => this.settle(slot, reply));
      slot.worker.on('error', (error: Error) => this.fail(slot, error));
      slot.worker.on('exit', (code) => this.fail(slot, new DatasetError(`loader worker exited unexpectedly (code ${code}).`)));
      this.slots.push(slot);
    }
  }

  /** Builds a batch on the next free worker. */
  run(items: readonly BatchItem[]): Promise<RawBatch> {
    if (this.closed) return Promise.reject(new ConfigError('the loader was disposed; create a new one.'));
    return new Promise((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      this.dispatch();
    });
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
    if (reply.id !== slot.requestId) return; // a stale reply; cannot happen with one request per worker
    const task = slot.task;
    slot.task = undefined;
    slot.worker.unref();
    if (task !== undefined) {
      if ('batch' in reply) task.resolve(reply.batch);
      else task.reject(reviveError(reply.error));
    }
    this.dispatch();
  }

  private fail(slot: Slot, error: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    const wrapped = error instanceof ContrasegError ? error : new DatasetError(`loader worker crashed: ${error.message}`);
    slot.task?.reject(wrapped);
    slot.task = undefined;
    if (this.slots.length === 0) {
      for (const task of this.queue.splice(0)) task.reject(wrapped);
    } else {
      this.dispatch();
    }
  }

  /** Terminates every worker; queued and running batches are rejected. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new ConfigError('the loader was disposed while a batch was pending.');
    for (const task of this.queue.splice(0)) task.reject(error);
    const slots = this.slots.splice(0);
    for (const slot of slots) slot.task?.reject(error);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }
}
