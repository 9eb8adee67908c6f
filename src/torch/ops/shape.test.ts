// Reductions, reshaping, joining, indexing and dtype casts against PyTorch 1.13
// (fixtures from scripts/fixtures/ops_shape.py): values, gradients, and no leaked handles per op.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as shape from './shape.js';
import { tensor, arange } from '../creation.js';
import { scope } from '../scope.js';
import { EngineError } from '../../errors.js';
import { describeFixture, loadFixture, type OpFn } from '../testing.js';

const fixture = loadFixture('ops-shape.json');

const ops: Record<string, OpFn> = {
  sum: ({ a }, p) => shape.sum(a, p.dims ?? undefined, p.keepdim),
  mean: ({ a }, p) => shape.mean(a, p.dims ?? undefined, p.keepdim),
  amax: ({ a }, p) => shape.amax(a, p.dims ?? undefined, p.keepdim),
  amin: ({ a }, p) => shape.amin(a, p.dims ?? undefined, p.keepdim),
  max: ({ a }, p) => shape.max(a, p.dim, p.keepdim),
  min: ({ a }, p) => shape.min(a, p.dim, p.keepdim),
  argmax: ({ a }, p) => shape.argmax(a, p.dim ?? undefined, p.keepdim),
  logsumexp: ({ a }, p) => shape.logsumexp(a, p.dims, p.keepdim),
  reshape: ({ a }, p) => shape.reshape(a, p.shape),
  permute: ({ a }, p) => shape.permute(a, p.dims),
  transpose: ({ a }, p) => shape.transpose(a, p.dim0, p.dim1),
  contiguous_permuted: ({ a }) => a.permute([1, 2, 0]).contiguous(),
  slice: ({ a }, p) => shape.slice(a, p.dim, p.start, p.end ?? undefined, p.step),
  squeeze: ({ a }, p) => shape.squeeze(a, p.dim ?? undefined),
  unsqueeze: ({ a }, p) => shape.unsqueeze(a, p.dim),
  expand: ({ a }, p) => shape.expand(a, p.shape),
  flatten: ({ a }, p) => shape.flatten(a, p.start, p.end),
  repeat: ({ a }, p) => shape.repeat(a, p.repeats),
  flip: ({ a }, p) => shape.flip(a, p.dims),
  cat: ({ a, b, c }, p) => shape.cat([a, b, c], p.dim),
  stack: ({ a, b, c }, p) => shape.stack([a, b, c], p.dim),
  gather: ({ a, index }, p) => shape.gather(a, p.dim, index),
  indexSelect: ({ a, index }, p) => shape.indexSelect(a, p.dim, index),
  maskedFill: ({ a, mask }, p) => shape.maskedFill(a, mask, p.value),
  maskedSelect: ({ a, mask }) => shape.maskedSelect(a, mask),
  nonzero: ({ a }) => shape.nonzero(a),
  oneHot: ({ a }, p) => shape.oneHot(a, p.classes),
  to: ({ a }, p) => a.to(p.dtype),
};

describeFixture('shape ops match PyTorch', fixture, ops);

describe('shape ops, hand-computed', () => {
  it('reductions over all elements give 0-D tensors', () => scope(() => {
    const values = tensor([1, 2, 3, 4], [2, 2]);
    assert.deepEqual(values.sum().shape, []);
    assert.equal(values.sum().item(), 10);
    assert.equal(values.mean().item(), 2.5);
    assert.equal(values.amax().item(), 4);
    assert.equal(shape.amin(values).item(), 1);
    assert.equal(values.argmax().item(), 3);
  }));

  it('slice and permute are views: a later contiguous() copy has the sliced values', () => scope(() => {
    const grid = arange(12, undefined, 1, 'float32').reshape([3, 4]);
    assert.deepEqual(grid.slice(1, 1, 3).toArray(), [1, 2, 5, 6, 9, 10]);
    assert.deepEqual(grid.transpose(0, 1).contiguous().toArray(), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  }));

  it('reshape to an incompatible size throws EngineError naming the shape', () => scope(() => {
    const values = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.throws(() => values.reshape([4, 2]), (error: unknown) =>
      error instanceof EngineError && /shape '\[4, 2\]' is invalid for input of size 6/.test(error.message));
  }));

  it('cat of mismatched sizes throws EngineError', () => scope(() => {
    assert.throws(() => shape.cat([tensor([1, 2], [1, 2]), tensor([1, 2, 3], [1, 3])], 0), (error: unknown) =>
      error instanceof EngineError && /Sizes of tensors must match except in dimension 0/.test(error.message));
  }));

  it('gather with an out-of-range index throws EngineError, never crashes', () => scope(() => {
    const index = tensor([0, 7], [1, 2], { dtype: 'int64' });
    assert.throws(() => shape.gather(tensor([1, 2, 3], [1, 3]), 1, index), (error: unknown) =>
      error instanceof EngineError && /out of bounds|out of range/.test(error.message));
  }));
});
