/**
 * Synchronised BatchNorm on tensors: the batch statistics of a training-mode BatchNorm taken over the
 * union of every rank's batch (small per-process batches are the normal case in segmentation), as
 * torch.nn.SyncBatchNorm. Built from differentiable ops and the process group's differentiable sum, so
 * the backward (which needs the gradient sums of every rank too) is autograd's.
 *
 * Statistics: mean from an all-reduced sum and count, then the biased variance from an all-reduced sum of
 * squared deviations (two passes, not E[x^2] - E[x]^2, which cancels in float32 when |mean| >> std).
 */
import type { Tensor } from '../torch/tensor.js';
import { batchNorm } from '../torch/ops/functional.js';
import { cat } from '../torch/ops/shape.js';
import { rsqrt, square } from '../torch/ops/math.js';
import { full } from '../torch/creation.js';
import { noGrad } from '../torch/scope.js';
import { native } from '../torch/native.js';
import { ShapeError } from '../errors.js';
import type { ProcessGroup } from './process-group.js';

/** The BatchNorm state syncBatchNorm reads and updates (a BatchNorm2d's tensors, borrowed). */
export interface SyncBatchNormState {
  weight: Tensor | null;
  bias: Tensor | null;
  runningMean: Tensor | null;
  runningVar: Tensor | null;
  momentum: number;
  eps: number;
  training: boolean;
}

function updateRunning(state: SyncBatchNormState, mean: Tensor, variance: Tensor, count: number): void {
  const { runningMean, runningVar, momentum } = state;
  if (runningMean === null || runningVar === null) return;
  noGrad(() => {
    // PyTorch keeps the unbiased variance in running_var.
    const unbiased = variance.detach().mul(count / Math.max(count - 1, 1));
    const nextMean = runningMean.mul(1 - momentum).add(mean.detach().mul(momentum));
    const nextVar = runningVar.mul(1 - momentum).add(unbiased.mul(momentum));
    native.copyInto(runningMean.handle, nextMean.handle);
    native.copyInto(runningVar.handle, nextVar.handle);
    for (const temporary of [unbiased, nextMean, nextVar]) temporary.dispose();
  });
}

/**
 * BatchNorm over input [N, C, H, W] float32 whose batch statistics span every rank of `group` (training
 * mode); in evaluation mode plain batchNorm with the running statistics. Every rank must call it for the
 * same layers in the same order, forward and backward. Returns a new tensor (the caller's); intermediates
 * belong to the open scope.
 * @throws ShapeError for a non-4-D input or fewer than 2 values per channel over all ranks; DistributedError.
 */
export function syncBatchNorm(group: ProcessGroup, input: Tensor, state: SyncBatchNormState): Tensor {
  if (!state.training) return batchNorm(input, { ...state, training: false });
  if (input.rank !== 4) throw new ShapeError(`syncBatchNorm: expected input [N, C, H, W], got [${input.shape.join(', ')}]`);
  const [batch, channels, height, width] = input.shape as [number, number, number, number];
  const localCount = batch * height * width;
  const sums = group.allReduceSumAutograd(cat([input.sum([0, 2, 3]), full([1], localCount)])); // [C + 1]
  const count = sums.slice(0, channels, channels + 1).item();
  if (count < 2) throw new ShapeError(`syncBatchNorm: expected more than 1 value per channel over all ranks, got ${count}`);
  const mean = sums.slice(0, 0, channels).div(count); // [C]
  const centered = input.sub(mean.reshape([1, channels, 1, 1])); // [N, C, H, W]
  const variance = group.allReduceSumAutograd(square(centered).sum([0, 2, 3])).div(count); // [C], biased
  updateRunning(state, mean, variance, count);
  let output = centered.mul(rsqrt(variance.add(state.eps)).reshape([1, channels, 1, 1]));
  if (state.weight !== null) output = output.mul(state.weight.reshape([1, channels, 1, 1]));
  if (state.bias !== null) output = output.add(state.bias.reshape([1, channels, 1, 1]));
  return output;
}
