// Finite-difference checks (float64, central differences) of the backward passes the networks rely on:
// conv2d, batch_norm, interpolate and cross-entropy, plus the pooling/softmax/normalize ops around them.
// Independent of the PyTorch fixtures: the oracle is the engine's own forward pass, perturbed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as F from './ops/functional.js';
import { manualSeed, randn, tensor, rand } from './creation.js';
import { keep, scope } from './scope.js';
import type { Tensor } from './tensor.js';
import { gradcheck } from './testing.js';

/** float64 normal samples, kept until the test disposes them. */
function sample(shape: number[], scale = 1, offset = 0): Tensor {
  return keep(scope(() => randn(shape, 'float64').mul(scale).add(offset)));
}

function withInputs(build: () => Tensor[], check: (inputs: Tensor[]) => void): void {
  manualSeed(2024);
  const inputs = build();
  try {
    check(inputs);
  } finally {
    for (const input of inputs) input.dispose();
  }
}

describe('gradcheck: conv2d', () => {
  const configs: [string, number[], number[], F.Conv2dOptions][] = [
    ['plain', [2, 3, 5, 5], [4, 3, 3, 3], {}],
    ['stride 2, padding 1', [1, 2, 6, 6], [3, 2, 3, 3], { stride: 2, padding: 1 }],
    ['dilation 2, rectangular padding', [1, 2, 7, 6], [2, 2, 3, 3], { dilation: 2, padding: [2, 1] }],
    ['groups 2', [1, 4, 5, 5], [4, 2, 3, 3], { groups: 2, padding: 1 }],
  ];
  for (const [name, inputShape, weightShape, options] of configs) {
    it(name, () => withInputs(() => [sample(inputShape), sample(weightShape, 0.5), sample([weightShape[0]])],
      ([x, weight, bias]) => gradcheck(([a, w, b]) => F.conv2d(a, w, b, options), [x, weight, bias], { what: `conv2d ${name}` })));
  }
});

describe('gradcheck: batch_norm', () => {
  it('training (batch statistics), with affine parameters', () => withInputs(
    () => [sample([4, 3, 2, 2], 2, 0.5), sample([3], 0.3, 1), sample([3], 0.3)],
    ([x, weight, bias]) => gradcheck(([a, w, b]) => F.batchNorm(a, { weight: w, bias: b, training: true }),
      [x, weight, bias], { what: 'batch_norm training' })));

  it('eval (running statistics)', () => withInputs(
    () => [sample([3, 2, 2, 2]), sample([2], 0.3, 1), sample([2], 0.3), sample([2], 0.2), keep(rand([2], 'float64').add(0.5))],
    ([x, weight, bias, runningMean, runningVar]) => gradcheck(
      ([a, w, b]) => F.batchNorm(a, { weight: w, bias: b, runningMean, runningVar, training: false }),
      [x, weight, bias], { what: 'batch_norm eval' })));
});

describe('gradcheck: interpolate', () => {
  const configs: [string, [number, number], F.InterpolateMode, boolean][] = [
    ['bilinear up', [5, 7], 'bilinear', false],
    ['bilinear up, align corners', [5, 7], 'bilinear', true],
    ['bilinear down', [2, 3], 'bilinear', false],
    ['nearest up', [5, 7], 'nearest', false],
  ];
  for (const [name, size, mode, alignCorners] of configs) {
    it(name, () => withInputs(() => [sample([2, 2, 3, 4])],
      ([x]) => gradcheck(([a]) => F.interpolate(a, size, mode, alignCorners), [x], { what: `interpolate ${name}` })));
  }
});

describe('gradcheck: cross-entropy', () => {
  const target = (): Tensor => keep(tensor([0, 2, 255, 1, 3, 255, 2, 0, 1, 3, 3, 255, 0, 1, 2, 2, 255, 1], [2, 3, 3], { dtype: 'int64' }));
  for (const reduction of ['mean', 'sum', 'none'] as const) {
    it(`class weights and ignoreIndex, reduction ${reduction}`, () => withInputs(
      () => [sample([2, 4, 3, 3], 2), target(), keep(tensor([0.5, 1, 2, 1.5], [4], { dtype: 'float64' }))],
      ([logits, labels, weight]) => gradcheck(
        ([x]) => F.crossEntropy(x, labels, { weight, ignoreIndex: 255, reduction }), [logits], { what: `cross-entropy ${reduction}` })));
  }
  it('label smoothing', () => withInputs(
    () => [sample([5, 4], 2), keep(tensor([0, 3, 1, 2, 1], [5], { dtype: 'int64' }))],
    ([logits, labels]) => gradcheck(([x]) => F.crossEntropy(x, labels, { labelSmoothing: 0.1 }), [logits], { what: 'label smoothing' })));
});

describe('gradcheck: pooling, softmax, normalize', () => {
  it('max pooling (distinct values: no ties)', () => withInputs(
    () => [keep(scope(() => tensor(Float64Array.from({ length: 50 }, (_, i) => ((i * 37) % 50) / 10), [1, 2, 5, 5])))],
    ([x]) => gradcheck(([a]) => F.maxPool2d(a, 3, { stride: 2, padding: 1 }), [x], { what: 'maxPool2d' })));
  it('adaptive average pooling', () => withInputs(() => [sample([1, 2, 7, 5])],
    ([x]) => gradcheck(([a]) => F.adaptiveAvgPool2d(a, [3, 2]), [x], { what: 'adaptiveAvgPool2d' })));
  it('log_softmax and softmax', () => withInputs(() => [sample([2, 4, 3])], ([x]) => {
    gradcheck(([a]) => F.logSoftmax(a, 1), [x], { what: 'logSoftmax' });
    gradcheck(([a]) => F.softmax(a, -1), [x], { what: 'softmax' });
  }));
  it('L2 normalize', () => withInputs(() => [sample([3, 4, 2])],
    ([x]) => gradcheck(([a]) => F.normalize(a, { dim: 1 }), [x], { what: 'normalize' })));
});

describe('gradcheck itself', () => {
  it('catches a wrong backward', () => withInputs(() => [sample([4])], ([x]) => {
    // x * detach(x) has true derivative 2x but autograd sees only x: the check must fail.
    assert.throws(() => gradcheck(([a]) => a.mul(a.detach()), [x], { what: 'wrong' }), /wrong: gradient of input 0: \d+ of 4 elements differ/);
  }));
});
