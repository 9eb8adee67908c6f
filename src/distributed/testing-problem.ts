/**
 * A small deterministic data-parallel problem for the distributed tests: a conv - BatchNorm (eval) - ReLU -
 * conv network in float64 on a global batch of 4 images 3x8x8 with 3 classes. Values come from closed-form
 * formulas, not an RNG, so every process (ranks and the single-process reference) builds the same ones.
 *
 * float64 on purpose: the data-parallel and single-process runs sum the same terms in different orders,
 * and float64 keeps that difference near 1e-14 relative, so the tests' 1e-6 bound can only be crossed by a
 * semantic error (a missing average, a stale broadcast, a dropped bucket).
 */
import { tensor, conv2d, batchNorm, relu, type Tensor } from '../torch/index.js';

/** Parameters of the problem's network, in a fixed order. */
export interface ProblemParams {
  w1: Tensor; b1: Tensor; gamma: Tensor; beta: Tensor; w2: Tensor; b2: Tensor;
}

/** What the tests train. Tensors are the caller's (long-lived for the test). */
export interface Problem {
  params: ProblemParams;
  bnMean: Tensor;
  bnVar: Tensor;
  /** Global batch size. */
  batch: number;
  steps: number;
  /** Images of step `step`: [batch, 3, 8, 8] float64. New tensor. */
  images(step: number): Tensor;
  /** Labels of step `step`: [batch, 8, 8] int64 in 0..2. New tensor. */
  labels(step: number): Tensor;
}

function filled(shape: number[], formula: (index: number) => number): Tensor {
  const size = shape.reduce((product, dim) => product * dim, 1);
  const tensorValue = tensor(Float64Array.from({ length: size }, (_, index) => formula(index)), shape, { dtype: 'float64' });
  return tensorValue.setRequiresGrad(true);
}

/** The problem; `offset` shifts the initial parameters (a rank that must be overwritten by the broadcast). */
export function dataParallelProblem(offset: number): Problem {
  const params: ProblemParams = {
    w1: filled([4, 3, 3, 3], (i) => 0.3 * Math.sin(1.3 * i + 0.2) + offset),
    b1: filled([4], (i) => 0.05 * i - offset),
    gamma: filled([4], (i) => 1 + 0.1 * Math.cos(i) + offset),
    beta: filled([4], (i) => 0.02 * i + offset),
    w2: filled([3, 4, 1, 1], (i) => 0.4 * Math.cos(0.7 * i + 0.1) - offset),
    b2: filled([3], (i) => -0.03 * i + offset),
  };
  const constant = (values: number[]): Tensor => tensor(values, [values.length], { dtype: 'float64' });
  return {
    params,
    bnMean: constant([0.1, -0.2, 0.05, 0]),
    bnVar: constant([1.5, 0.8, 1.1, 2]),
    batch: 4,
    steps: 4,
    images: (step) => tensor(Float64Array.from({ length: 4 * 3 * 64 }, (_, i) => Math.sin(0.37 * i + 1.1 * step) + 0.2 * Math.cos(0.05 * i * (step + 1))),
      [4, 3, 8, 8], { dtype: 'float64' }),
    labels: (step) => tensor(Array.from({ length: 4 * 64 }, (_, i) => (Math.floor(i / 5) + step * 7 + (i % 3)) % 3), [4, 8, 8], { dtype: 'int64' }),
  };
}

/** The network's logits [N, 3, 8, 8] for images [N, 3, 8, 8] (BatchNorm in evaluation mode). */
export function problemForward(problem: Problem, images: Tensor): Tensor {
  const p = problem.params;
  const hidden = relu(batchNorm(conv2d(images, p.w1, p.b1, { padding: 1 }), {
    weight: p.gamma, bias: p.beta, runningMean: problem.bnMean, runningVar: problem.bnVar, training: false,
  }));
  return conv2d(hidden, p.w2, p.b2);
}
