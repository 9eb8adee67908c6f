// Neural-network functionals against PyTorch 1.13's torch.nn.functional (fixtures from
// scripts/fixtures/ops_nn.py): values, gradients, running statistics, and no leaked handles per op.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as F from './functional.js';
import { manualSeed, ones, randn, tensor, zeros } from '../creation.js';
import { scope } from '../scope.js';
import { ConfigError, EngineError, ShapeError } from '../../errors.js';
import { assertClose, describeFixture, loadFixture, type OpFn } from '../testing.js';

const fixture = loadFixture('ops-functional.json');

const ops: Record<string, OpFn> = {
  conv2d: ({ x, weight, bias }, p) => F.conv2d(x, weight, bias ?? null,
    { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups }),
  batchNorm: ({ x, weight, bias, running_mean: runningMean, running_var: runningVar }, p) => {
    const out = F.batchNorm(x, { weight, bias, runningMean, runningVar, training: p.training, momentum: p.momentum, eps: p.eps });
    // The running statistics are updated in place; the fixture records them after the call.
    return runningMean === undefined ? out : { out, running_mean: runningMean.clone(), running_var: runningVar.clone() };
  },
  dropout: ({ x }, p) => {
    if (p.seed !== null) manualSeed(p.seed);
    return F.dropout(x, p.p, p.training);
  },
  interpolate: ({ x }, p) => F.interpolate(x, p.size, p.mode, p.alignCorners),
  adaptiveAvgPool2d: ({ x }, p) => F.adaptiveAvgPool2d(x, p.size),
  maxPool2d: ({ x }, p) => F.maxPool2d(x, p.kernel,
    { stride: p.stride ?? undefined, padding: p.padding, dilation: p.dilation, ceilMode: p.ceilMode }),
  logSoftmax: ({ x }, p) => F.logSoftmax(x, p.dim),
  softmax: ({ x }, p) => F.softmax(x, p.dim),
  crossEntropy: ({ logits, target, weight }, p) => F.crossEntropy(logits, target,
    { weight: weight ?? null, ignoreIndex: p.ignoreIndex, reduction: p.reduction, labelSmoothing: p.labelSmoothing }),
  normalize: ({ x }, p) => F.normalize(x, { dim: p.dim, p: p.p }),
  bincount: ({ x, weights }, p) => F.bincount(x, { minlength: p.minlength, weights: weights ?? null }),
};

describeFixture('functionals match PyTorch', fixture, ops);

describe('dropout in training', () => {
  it('zeroes about a fraction p and scales the rest by 1/(1-p)', () => scope(() => {
    manualSeed(7);
    const p = 0.3;
    const output = F.dropout(ones([200, 100]), p, true).toArray();
    const zeroFraction = output.filter((value) => value === 0).length / output.length;
    // 20000 Bernoulli draws: the standard deviation of the fraction is ~0.0032; 0.02 is >6 sigma.
    assert.ok(Math.abs(zeroFraction - p) < 0.02, `zero fraction ${zeroFraction}, expected ~${p}`);
    const kept = output.filter((value) => value !== 0);
    assert.ok(kept.every((value) => Math.abs(value - 1 / (1 - p)) < 1e-6), 'kept values are scaled by 1/(1-p)');
  }));

  it('draws a new mask on each call', () => scope(() => {
    manualSeed(3);
    const first = F.dropout(ones([1000]), 0.5, true).toArray();
    const second = F.dropout(ones([1000]), 0.5, true).toArray();
    assert.notDeepEqual(first, second);
  }));
});

describe('functionals reject bad input with clear errors', () => {
  it('conv2d of a 3-D tensor throws ShapeError suggesting unsqueeze(0)', () => scope(() => {
    assert.throws(() => F.conv2d(zeros([3, 8, 8]), zeros([4, 3, 3, 3])), (error: unknown) =>
      error instanceof ShapeError && /expected an NCHW tensor \[B, C, H, W\], got shape \[3, 8, 8\]/.test(error.message) &&
      /unsqueeze\(0\)/.test(error.message));
  }));

  it('conv2d with the wrong channel count throws EngineError naming both shapes', () => scope(() => {
    assert.throws(() => F.conv2d(zeros([1, 4, 8, 8]), zeros([2, 3, 3, 3])), (error: unknown) =>
      error instanceof EngineError && /expected input\[1, 4, 8, 8\] to have 3 channels, but got 4 channels/.test(error.message));
  }));

  it('crossEntropy with a float target throws ShapeError saying how to convert', () => scope(() => {
    assert.throws(() => F.crossEntropy(zeros([2, 3]), zeros([2])), (error: unknown) =>
      error instanceof ShapeError && /target must be int64 class ids, got float32/.test(error.message));
  }));

  it('crossEntropy with a class id out of range throws EngineError, never crashes', () => scope(() => {
    const target = tensor([0, 5], [2], { dtype: 'int64' });
    assert.throws(() => F.crossEntropy(randn([2, 3]), target), (error: unknown) =>
      error instanceof EngineError && /out of bounds/.test(error.message));
  }));

  it('interpolate with an unknown mode throws EngineError listing the modes', () => scope(() => {
    assert.throws(() => F.interpolate(zeros([1, 1, 2, 2]), [4, 4], 'bicubic' as F.InterpolateMode), (error: unknown) =>
      error instanceof EngineError && /unknown mode 'bicubic'; expected bilinear or nearest/.test(error.message));
  }));

  it('batchNorm in training with one value per channel throws ShapeError, as PyTorch does', () => scope(() => {
    assert.throws(() => F.batchNorm(zeros([1, 3, 1, 1]), { training: true }), (error: unknown) =>
      error instanceof ShapeError && /expected more than 1 value per channel when training, got input shape \[1, 3, 1, 1\]/.test(error.message));
    assert.deepEqual(F.batchNorm(zeros([1, 3, 1, 2]), { training: true }).shape, [1, 3, 1, 2]); // two values: fine
    assert.deepEqual(F.batchNorm(zeros([1, 3]), { runningMean: zeros([3]), runningVar: ones([3]), training: false }).shape, [1, 3]);
  }));

  it('normalize and bincount take options objects; a PyTorch-style positional call is a ConfigError, not another meaning', () => scope(() => {
    // F.normalize(x, 1) in PyTorch is p = 1 over dim 1; the old normalize(x, 1) here meant dim 1, p = 2.
    assert.throws(() => F.normalize(ones([2, 3]), 1 as never), (error: unknown) => error instanceof ConfigError &&
      /normalize\(input, options\): the second argument is an options object, e.g. normalize\(x, \{ dim: 1, p: 2 \}\); got 1/.test(error.message));
    const counts = tensor([0, 2, 2], [3], { dtype: 'int64' });
    assert.throws(() => F.bincount(counts, tensor([1, 1, 1], [3]) as never), (error: unknown) => error instanceof ConfigError &&
      /bincount\(input, options\): the second argument is an options object.*got a tensor/.test(error.message));
    assert.throws(() => F.bincount(counts, 5 as never), ConfigError);
    // Each option by name: p = 1 over dim 0 of [[3, 1], [1, 1]] is [[0.75, 0.5], [0.25, 0.5]]; the defaults are p = 2, dim 1.
    assert.deepEqual(F.normalize(tensor([3, 1, 1, 1], [2, 2]), { dim: 0, p: 1 }).toArray(), [0.75, 0.5, 0.25, 0.5]);
    // [3, 4] / 5 in float32: two roundings (norm, quotient) of at most half an ulp (2^-24 relative) each.
    assertClose(F.normalize(tensor([3, 4], [1, 2])), [0.6, 0.8], { rtol: 2 ** -23, atol: 0, what: 'normalize defaults' });
    assert.deepEqual(F.bincount(counts, { minlength: 5 }).toArray(), [1, 0, 2, 0, 0]);
    assert.deepEqual(F.bincount(counts, { weights: tensor([0.5, 1, 2], [3]) }).toArray(), [0.5, 0, 3]);
  }));

  it('batchNorm with running statistics of the wrong length throws EngineError', () => scope(() => {
    assert.throws(() => F.batchNorm(zeros([2, 3, 2, 2]), { runningMean: zeros([4]), runningVar: ones([4]), training: false }),
      (error: unknown) => error instanceof EngineError && /running_mean should contain 3 elements not 4/.test(error.message));
  }));
});
