/** Gradient utilities of the training loop: the global gradient norm and clipping by it (torch.nn.utils.clip_grad_norm_). */
import { native } from './native.js';
import { scope } from './scope.js';
import { describeArgument, expectTensor, type Tensor } from './tensor.js';
import { square } from './ops/math.js';
import { ConfigError, EngineError } from '../errors.js';

/**
 * Global L2 norm of the gradients of `params` (parameters without a gradient are skipped), computed
 * in float64 so that the sum of squares over millions of entries adds no visible rounding.
 */
export function gradNorm(params: readonly Tensor[]): number {
  return normOf(params, 'gradNorm');
}

function normOf(params: readonly Tensor[], op: string): number {
  if (!Array.isArray(params)) throw new EngineError(`${op}: expected an array of parameter tensors, got ${describeArgument(params)}`);
  params.forEach((param, index) => expectTensor(param, op, `params[${index}]`));
  return scope(() => {
    let squares = 0;
    for (const param of params) {
      const grad = param.grad;
      if (grad !== null) squares += square(grad.to('float64')).sum().item();
    }
    return Math.sqrt(squares);
  });
}

/**
 * Scales every gradient in place by min(1, maxNorm / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_
 * does, and returns the norm before clipping (NaN or Inf when a gradient is not finite: nothing is
 * scaled then, so the caller can stop or skip the step).
 * @throws ConfigError unless maxNorm is positive and finite.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  if (!(Number.isFinite(maxNorm) && maxNorm > 0)) throw new ConfigError(`clipGradNorm: maxNorm (gradClip) must be a positive number, got ${maxNorm}`);
  const norm = normOf(params, 'clipGradNorm');
  const factor = maxNorm / (norm + 1e-6); // torch's clip_coef
  if (!Number.isFinite(norm) || factor >= 1) return norm;
  scope(() => {
    for (const param of params) {
      const grad = param.grad;
      if (grad !== null) native.copyInto(grad.handle, grad.mul(factor).handle);
    }
  });
  return norm;
}
