// Tensor handles: inspection, conversion, autograd, disposal, and the errors a misuse must raise
// (EngineError with a clear message, never a crash). Expected values are hand-computed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from './tensor.js';
import { arange, ones, tensor, zeros } from './creation.js';
import { keep, liveTensorCount, scope } from './scope.js';
import { matmul } from './ops/math.js';
import { EngineError } from '../errors.js';
import { assertClose } from './testing.js';

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof EngineError, `expected an EngineError, got ${String(error)}`);
    assert.equal(error.code, 'ENGINE');
    assert.match(error.message, pattern);
    return true;
  });
}

describe('inspection and conversion', () => {
  it('shape, rank, size and dtype', () => scope(() => {
    const grid = zeros([2, 3, 4]);
    assert.deepEqual([grid.shape, grid.rank, grid.size, grid.dtype], [[2, 3, 4], 3, 24, 'float32']);
    const shape = grid.shape;
    shape[0] = 99; // a copy: the tensor is unaffected
    assert.deepEqual(grid.shape, [2, 3, 4]);
  }));

  it('toTypedArray returns the array type of each dtype', () => scope(() => {
    assert.ok(tensor([1]).toTypedArray() instanceof Float32Array);
    assert.ok(tensor([1], [1], { dtype: 'float64' }).toTypedArray() instanceof Float64Array);
    assert.ok(tensor([1], [1], { dtype: 'int64' }).toTypedArray() instanceof BigInt64Array);
    assert.ok(tensor([1], [1], { dtype: 'int32' }).toTypedArray() instanceof Int32Array);
    assert.ok(tensor([1], [1], { dtype: 'uint8' }).toTypedArray() instanceof Uint8Array);
    assert.ok(tensor([1], [1], { dtype: 'bool' }).toTypedArray() instanceof Uint8Array);
  }));

  it('toArray reads non-contiguous views in logical order', () => scope(() => {
    const grid = arange(6, undefined, 1, 'float32').reshape([2, 3]);
    assert.deepEqual(grid.transpose(0, 1).toArray(), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(arange(4).toArray(), [0, 1, 2, 3]);
  }));

  it('item() of one element, EngineError for more', () => scope(() => {
    assert.equal(tensor([2.5]).item(), 2.5);
    assert.equal(tensor([7], [1, 1], { dtype: 'int64' }).item(), 7);
    rejects(() => tensor([1, 2, 3]).item(), /^item\(\): tensor has 3 elements, expected 1 \(arguments: float32\[3\]\)$/);
  }));

  it('to() converts dtypes (float to int truncates toward zero)', () => scope(() => {
    assert.deepEqual(tensor([-1.7, 2.9]).to('int64').toArray(), [-1, 2]);
    assert.equal(tensor([1], [1], { dtype: 'int32' }).to('float64').dtype, 'float64');
  }));

  it('clone() copies, detach() drops the graph', () => scope(() => {
    const source = tensor([1, 2], [2], { requiresGrad: true });
    const doubled = source.mul(2);
    assert.deepEqual(doubled.clone().toArray(), [2, 4]);
    assert.equal(doubled.clone().requiresGrad, true);
    assert.equal(doubled.detach().requiresGrad, false);
  }));
});

describe('autograd', () => {
  it('backward() fills .grad of leaves: d/dx sum(x^2 + 3x) = 2x + 3', () => scope(() => {
    const x = tensor([1, -2, 0.5], [3], { requiresGrad: true });
    assert.equal(x.requiresGrad, true);
    assert.equal(x.grad, null);
    x.mul(x).add(x.mul(3)).sum().backward();
    assertClose(x.grad!, [5, -1, 4]);
  }));

  it('gradients accumulate over backward() calls until zeroGrad()', () => scope(() => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    x.mul(3).sum().backward();
    x.mul(3).sum().backward();
    assertClose(x.grad!, [6, 6]);
    x.zeroGrad();
    assert.equal(x.grad, null);
  }));

  it('backward(gradient) of a non-scalar output is a vector-Jacobian product', () => scope(() => {
    const a = tensor([1, 2, 3, 4], [2, 2], { requiresGrad: true });
    const b = tensor([1, 0, 2, 1], [2, 2]);
    matmul(a, b).backward(tensor([1, 0, 0, 1], [2, 2]));
    // dL/dA = G B^T with G = I.
    assertClose(a.grad!, [1, 2, 0, 1]);
  }));

  it('setRequiresGrad turns tracking on and off', () => scope(() => {
    const x = ones([2]);
    assert.equal(x.requiresGrad, false);
    x.setRequiresGrad();
    assert.equal(x.mul(2).requiresGrad, true);
    x.setRequiresGrad(false);
    assert.equal(x.mul(2).requiresGrad, false);
  }));

  it('backward() misuse raises EngineError', () => scope(() => {
    rejects(() => ones([2]).sum().backward(), /does not require grad/);
    const x = tensor([1, 2], [2], { requiresGrad: true });
    rejects(() => x.mul(2).backward(), /pass a gradient for a non-scalar tensor/);
    const loss = x.exp().sum();
    loss.backward();
    rejects(() => loss.backward(), /backward through the graph a second time/);
  }));

  it('a gradient outlives the disposed graph output', () => {
    const x = keep(tensor([1, 2], [2], { requiresGrad: true }));
    scope(() => x.mul(x).sum().backward());
    scope(() => assertClose(x.grad!, [2, 4]));
    x.dispose();
  });
});

describe('disposal', () => {
  it('dispose() frees now and is idempotent', () => {
    const before = liveTensorCount();
    const x = ones([3]);
    assert.equal(liveTensorCount(), before + 1);
    assert.equal(x.isLive, true);
    x.dispose();
    x.dispose();
    assert.equal(x.isLive, false);
    assert.equal(liveTensorCount(), before);
  });

  it('using a disposed tensor throws EngineError saying what to do', () => scope(() => {
    const gone = ones([2]);
    const live = ones([2]);
    gone.dispose();
    rejects(() => gone.add(1), /already disposed; keep it \(keep\(\)\/return it from scope\(\)\) while it is used/);
    rejects(() => live.add(gone), /^add: other was already disposed/);
    rejects(() => gone.toArray(), /already disposed/);
    rejects(() => gone.sum(), /already disposed/);
  }));

  it('a tensor handle from another object is rejected with an EngineError naming the op, not a crash', () => {
    const fake = new Tensor({} as Tensor['handle']);
    assert.throws(() => fake.toArray(), (error: unknown) => error instanceof EngineError &&
      /^toTypedArray: expected a tensor handle for tensor \(arguments: object\)$/.test(error.message));
  });
});

describe('shape errors are EngineErrors with PyTorch\'s explanation', () => {
  it('elementwise broadcast mismatch', () => scope(() => {
    rejects(() => zeros([2, 3]).add(zeros([4])),
      /The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1/);
  }));

  it('matmul inner-dimension mismatch', () => scope(() => {
    rejects(() => matmul(zeros([2, 3]), zeros([4, 5])), /mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)/);
  }));

  it('permute with the wrong number of dims', () => scope(() => {
    rejects(() => zeros([2, 3]).permute([0]), /input\.dim\(\) = 2 is not equal to len\(dims\) = 1/);
  }));

  it('an out-of-range dim', () => scope(() => {
    rejects(() => zeros([2, 3]).sum(5), /Dimension out of range \(expected to be in range of \[-2, 1\], but got 5\)/);
  }));
});
