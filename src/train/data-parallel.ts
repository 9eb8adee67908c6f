/**
 * Data-parallel training in the pipeline (src/distributed does the tensor work): the same start on every
 * rank, gradients averaged after backward, optional synchronised BatchNorm, and which rank writes.
 * Only rank 0 writes checkpoints, metrics and the run directory; every rank reads the run directory to
 * resume, so on several machines it must be shared storage (or the checkpoints copied to each machine).
 */
import { averageGradients, broadcastFromRoot, syncBatchNorm, type ProcessGroup } from '../distributed/index.js';
import { BatchNorm2d, type Module } from '../nn/index.js';
import { native } from '../torch/native.js';
import { manualSeed, randint } from '../torch/creation.js';
import { scope } from '../torch/scope.js';
import { deriveSeed } from '../augment/rng.js';
import type { Tensor } from '../torch/tensor.js';
import { ConfigError } from '../errors.js';

/** A run's place in a data-parallel job. */
export interface DataParallel {
  readonly group: ProcessGroup;
  /** Batch statistics of every BatchNorm over all ranks (torch.nn.SyncBatchNorm) instead of per rank. */
  readonly syncBatchNorm: boolean;
}

/** Whether this process writes the run's files (rank 0, or no data parallelism). */
export function writesRunFiles(parallel: DataParallel | undefined): boolean {
  return parallel === undefined || parallel.group.rank === 0;
}

/** The loader option that gives this rank its slice of every global batch. */
export function loaderShard(parallel: DataParallel | undefined): { shard?: { rank: number; worldSize: number } } {
  return parallel === undefined ? {} : { shard: { rank: parallel.group.rank, worldSize: parallel.group.worldSize } };
}

/** Makes `batchNorm`'s training-mode forward use statistics over all ranks (same bookkeeping as BatchNorm2d). */
function synchronise(batchNorm: BatchNorm2d, group: ProcessGroup): void {
  const local = batchNorm.forward.bind(batchNorm);
  batchNorm.forward = (input: Tensor): Tensor => {
    if (!batchNorm.training) return local(input);
    native.addInPlace(batchNorm.numBatchesTracked.handle, 1);
    return syncBatchNorm(group, input, {
      weight: batchNorm.weight, bias: batchNorm.bias, runningMean: batchNorm.runningMean, runningVar: batchNorm.runningVar,
      momentum: batchNorm.momentum, eps: batchNorm.eps, training: true,
    });
  };
}

/**
 * Puts every rank at rank 0's start: parameters and buffers broadcast from rank 0 (after any checkpoint
 * was loaded, so a resume agrees too), BatchNorm synchronised when asked, and a per-rank torch seed on
 * ranks > 0 (a resumed rank > 0 reseeds from rank 0's saved generator state: deterministic, but not its
 * uninterrupted stream).
 * @throws DistributedError
 */
export function startTogether(parallel: DataParallel | undefined, model: Module): void {
  if (parallel === undefined) return;
  broadcastFromRoot(parallel.group, [...model.parameters(), ...model.buffers()]);
  // Same weights, independent noise: ranks > 0 reseed libtorch's generator from its current state and their
  // rank, so dropout masks (and any other torch draw) differ between ranks as they would between the images
  // of one process's batch. Rank 0 keeps its stream (its checkpoints carry it).
  if (parallel.group.rank > 0) {
    const base = scope(() => randint(0, 2 ** 31 - 1, [1]).item());
    manualSeed(deriveSeed(base, parallel.group.rank));
  }
  if (!parallel.syncBatchNorm) return;
  for (const [, module] of model.namedModules()) {
    if (module instanceof BatchNorm2d) synchronise(module, parallel.group);
  }
}

/** The loop's afterBackward: gradients averaged over ranks, in buckets. */
export function gradientAveraging(parallel: DataParallel | undefined, params: readonly Tensor[]): { afterBackward?: () => void } {
  if (parallel === undefined) return {};
  return { afterBackward: () => averageGradients(parallel.group, params) };
}

/** What a checkpoint records of the job, so that a resume can check it. */
export function parallelMetrics(parallel: DataParallel | undefined): Record<string, number> {
  return parallel === undefined ? {} : { worldSize: parallel.group.worldSize };
}

/**
 * A checkpoint resumes only with the world size that wrote it (the loader's global batch, the sharding
 * and the optimiser state all depend on it).
 * @throws ConfigError naming both sizes and the checkpoint.
 */
export function checkResumeWorldSize(parallel: DataParallel | undefined, metrics: Record<string, unknown>, file: string): void {
  const saved = typeof metrics.worldSize === 'number' ? metrics.worldSize : 1;
  const current = parallel?.group.worldSize ?? 1;
  if (saved !== current) {
    throw new ConfigError(`${file} was written by a run of ${saved} process(es) but this run has ${current}; ` +
      `resume with the same world size (${saved === 1 ? 'without --nproc / WORLD_SIZE' : `--nproc ${saved} or WORLD_SIZE=${saved}`})`);
  }
}
