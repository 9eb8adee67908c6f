/**
 * Entry of a loader worker thread: rebuilds the file dataset from its descriptor (with a decoded-sample
 * cache, loader-cache.ts), then answers batch requests with typed arrays whose buffers are transferred,
 * not copied. Never loads libtorch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildBatch, type BatchItem, type BatchRecipe, type RawBatch } from './batch.js';
import { FileDataset } from './file-dataset.js';
import { cacheSamples } from './loader-cache.js';
import type { FileDatasetDescriptor } from './types.js';

/** What the main thread passes at start-up. */
export interface WorkerSetup {
  readonly descriptor: FileDatasetDescriptor;
  readonly recipe: BatchRecipe;
  /** Bytes of decoded samples this worker keeps (0 = decode every time). */
  readonly cacheBytes: number;
}
/** A request: build batch `id` from `items`. */
export interface WorkerRequest {
  readonly id: number;
  readonly items: readonly BatchItem[];
}
/** A reply: the batch, or the error (class name, code, message, file) to rethrow on the main thread. */
export type WorkerReply =
  | { readonly id: number; readonly batch: RawBatch }
  | { readonly id: number; readonly error: { readonly name: string; readonly message: string; readonly file?: string } };

const port = parentPort;
if (port !== null) {
  const setup = workerData as WorkerSetup;
  const dataset = cacheSamples(new FileDataset(setup.descriptor), setup.cacheBytes);
  port.on('message', (request: WorkerRequest) => {
    buildBatch(dataset, request.items, setup.recipe).then((batch) => {
      const transfer = [batch.images.buffer, batch.labels.buffer, ...(batch.distorted === null ? [] : [batch.distorted.buffer])];
      port.postMessage({ id: request.id, batch } satisfies WorkerReply, transfer as ArrayBuffer[]);
    }, (error: unknown) => {
      const { name, message, file } = error as { name?: string; message?: string; file?: string };
      port.postMessage({ id: request.id, error: { name: name ?? 'Error', message: message ?? String(error), file } } satisfies WorkerReply);
    });
  });
}
