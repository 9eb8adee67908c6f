/**
 * Data parallelism on tensors (no models here): the same start everywhere (broadcast from rank 0) and the
 * same update everywhere (gradients averaged over ranks after backward, in buckets).
 *
 * Averaging makes each rank's step the step of one process on the combined batch when the loss is a mean
 * over equally sized per-rank batches: grad of (1/W) sum_r L_r = (1/W) sum_r grad L_r.
 */
import type { Tensor } from '../torch/tensor.js';
import { scope } from '../torch/scope.js';
import { tensor } from '../torch/creation.js';
import { DistributedError } from '../errors.js';
import type { ProcessGroup } from './process-group.js';

/** PyTorch DDP's default bucket_cap_mb = 25. */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, float64: 8, int64: 8, int32: 4, uint8: 1, bool: 1 };

/**
 * Copies rank 0's values of `tensors` (parameters and buffers, in the same order on every rank) into every
 * rank's, in place. @throws DistributedError
 */
export function broadcastFromRoot(group: ProcessGroup, tensors: Tensor[]): void {
  if (group.worldSize === 1 || tensors.length === 0) return;
  group.broadcast(tensors, 0);
}

/**
 * Splits tensors into consecutive buckets of at most `bucketBytes` each (a tensor larger than that is a
 * bucket alone), in the given order. Pure: returns index lists.
 */
export function planBuckets(tensors: readonly Tensor[], bucketBytes: number): number[][] {
  const buckets: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  tensors.forEach((tensor, index) => {
    const size = tensor.shape.reduce((product, dim) => product * dim, 1) * (BYTES_PER_ELEMENT[tensor.dtype] ?? 8);
    if (current.length > 0 && bytes + size > bucketBytes) {
      buckets.push(current);
      current = [];
      bytes = 0;
    }
    current.push(index);
    bytes += size;
  });
  if (current.length > 0) buckets.push(current);
  return buckets;
}

/** Options of averageGradients(). */
export interface AverageGradientsOptions {
  /** Bucket size (bytes); default DEFAULT_BUCKET_BYTES. */
  bucketBytes?: number;
}

/**
 * Replaces each parameter's gradient by its mean over ranks, in place, one all-reduce per bucket (after
 * backward: the addon has no backward hooks to overlap with). Every rank must pass the same parameters in
 * the same order; parameters without a gradient (unused by this loss) are skipped, and every rank must
 * skip the same ones, which one 2-number all-reduce checks.
 * @throws DistributedError kind 'usage' when the ranks have gradients for different numbers of
 * parameters; other kinds from the all-reduce.
 */
export function averageGradients(group: ProcessGroup, parameters: readonly Tensor[], options: AverageGradientsOptions = {}): void {
  if (group.worldSize === 1) return;
  scope(() => {
    const grads = parameters.map((parameter) => parameter.grad).filter((grad): grad is Tensor => grad !== null);
    const counts = tensor([grads.length, -grads.length], [2], { dtype: 'float64' });
    group.allReduce(counts, 'max');
    const [most, negativeFewest] = counts.toArray() as number[];
    if (most !== -(negativeFewest as number)) {
      throw new DistributedError(`rank ${group.rank}: the ranks have gradients for different numbers of parameters ` +
        `(between ${-(negativeFewest as number)} and ${most}; this rank ${grads.length}). Every rank must run the same model and ` +
        'loss so that the same parameters receive gradients', 'usage');
    }
    for (const bucket of planBuckets(grads, options.bucketBytes ?? DEFAULT_BUCKET_BYTES)) {
      group.allReduce(bucket.map((index) => grads[index] as Tensor), 'avg');
    }
  });
}
