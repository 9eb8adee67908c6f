/**
 * The background checkpoint writer's thread (started by checkpoint-writer.ts): receives one CheckpointJob
 * at a time, hashes and writes it with writeCheckpointFiles, and answers { file } or { error }. The
 * file-system layer is node:fs, or (tests only) the one a module named in workerData builds.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { writeCheckpointFiles, type CheckpointJob } from './checkpoint-files.js';
import { nodeFs, type CheckpointFs } from './checkpoint-io.js';
import type { WriterThreadSetup, WriterReply } from './checkpoint-writer.js';

const setup = workerData as WriterThreadSetup;
const io: CheckpointFs = setup.fsModule === undefined ? nodeFs
  : ((await import(setup.fsModule)) as { createCheckpointFs(data: unknown): CheckpointFs }).createCheckpointFs(setup.fsData);

parentPort?.on('message', (job: CheckpointJob) => {
  let reply: WriterReply;
  try {
    reply = { file: writeCheckpointFiles(io, job) };
  } catch (error) {
    const { name, message } = error instanceof Error ? error : { name: 'Error', message: String(error) };
    const file = (error as { file?: unknown }).file;
    reply = { error: { name, message, ...(typeof file === 'string' ? { file } : {}) } };
  }
  // The snapshot's buffer goes back to the main thread, whose next snapshot copies into it (no allocation
  // per save; before, fresh buffers per save made the process's heap grow for hundreds of steps).
  const buffers = job.tensors.map((chunk) => chunk.buffer as ArrayBuffer);
  parentPort?.postMessage({ ...reply, buffers }, buffers);
});
