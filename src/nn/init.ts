/** Weight initialisers (PyTorch's formulas), drawing from the global generator (seed with manualSeed). */
import { rand, randn } from '../torch/creation.js';
import { scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';

/** fan_in and fan_out of a weight [out, in, ...kernel]. */
export function fans(shape: number[]): { fanIn: number; fanOut: number } {
  const receptive = shape.slice(2).reduce((product, dim) => product * dim, 1);
  return { fanIn: (shape[1] ?? 1) * receptive, fanOut: (shape[0] ?? 1) * receptive };
}

/** Uniform samples in [-bound, bound). Caller owns the result. */
export function uniform(shape: number[], bound: number): Tensor {
  return scope(() => rand(shape).mul(2 * bound).sub(bound));
}

/**
 * PyTorch's default Conv2d init (kaiming_uniform_ with a = sqrt(5)): uniform in +-1/sqrt(fan_in) for
 * the weight, and the same bound for the bias.
 */
export function defaultConvWeight(shape: number[]): Tensor {
  return uniform(shape, 1 / Math.sqrt(fans(shape).fanIn));
}

/** kaiming_normal_(mode='fan_out', nonlinearity='relu'), as torchvision's ResNet and DeepLab heads use. */
export function kaimingNormalFanOut(shape: number[]): Tensor {
  const std = Math.sqrt(2 / fans(shape).fanOut);
  return scope(() => randn(shape).mul(std));
}
