// Native memory seen from JS: Tensor.grad hands out one borrowed wrapper (no handle per access), and
// tensor storage is reported to V8 as external memory while handles reference it, once per storage.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { native } from './native.js';
import { tensor, zeros } from './creation.js';
import { keep, liveTensorCount, scope } from './scope.js';

/** x (a leaf) and the scalar sum(x^2) whose gradient is 2x, outside any scope (as a training loop holds parameters). */
function squaresLoss(values: number[]) {
  const x = keep(tensor(values, [values.length], { requiresGrad: true }));
  return { x, backward: () => scope(() => x.mul(x).sum().backward()) };
}

describe('Tensor.grad', () => {
  it('1000 accesses outside a scope create one handle, the same Tensor each time', () => {
    const { x, backward } = squaresLoss([1, -2, 3]);
    backward();
    const first = x.grad;
    assert.ok(first !== null);
    const before = liveTensorCount();
    for (let i = 0; i < 1000; i++) assert.equal(x.grad, first);
    assert.equal(liveTensorCount(), before, '.grad accesses grew the live handle count');
    assert.deepEqual(first.toArray(), [2, -4, 6]);
    x.dispose();
    assert.equal(first.isLive, false, 'disposing the tensor disposes its grad wrapper');
    assert.equal(liveTensorCount(), before - 2);
  });

  it('the next backward() drops the wrapper and accumulates in place; the new wrapper sees the sum', () => {
    const { x, backward } = squaresLoss([1, 2]);
    backward();
    const first = x.grad;
    assert.ok(first !== null);
    const before = liveTensorCount();
    backward();
    assert.equal(first.isLive, false, 'backward() should dispose handed-out gradient wrappers');
    const second = x.grad;
    assert.ok(second !== null && second !== first);
    assert.deepEqual(second.toArray(), [4, 8]);
    assert.equal(liveTensorCount(), before, 'one wrapper replaced by one');
    x.dispose();
  });

  it('zeroGrad() disposes the wrapper and grad becomes null', () => {
    const { x, backward } = squaresLoss([5]);
    backward();
    const grad = x.grad;
    x.zeroGrad();
    assert.equal(grad?.isLive, false);
    assert.equal(x.grad, null);
    x.dispose();
  });

  it('a wrapper first taken inside a scope is freed with it, then made again', () => {
    const { x, backward } = squaresLoss([1]);
    backward();
    const before = liveTensorCount();
    const inner = scope(() => {
      for (let i = 0; i < 100; i++) void x.grad;
      return x.grad?.isLive;
    });
    assert.equal(inner, true);
    assert.equal(liveTensorCount(), before, 'the scope should have freed the wrapper');
    assert.deepEqual(x.grad?.toArray(), [2]);
    x.dispose();
  });
});

describe('external memory reported to V8', () => {
  // 8 Mi float32 = 32 MiB: large against anything else the process allocates between two readings.
  const shape = [8, 1024, 1024];
  const bytes = 8 * 1024 * 1024 * 4;
  // V8's isolate total also moves with Node's own externally allocated buffers; nothing here allocates
  // any between two readings, but allow 1 MiB for Node internals.
  const slack = 1 << 20;
  const reported = (): number => native.externalMemory().tensors;
  const isolate = (): number => native.externalMemory().isolate;

  it('a 32 MiB tensor adds its bytes to the external memory of V8 while alive and removes them on dispose', () => {
    const tensorsBefore = reported();
    const isolateBefore = isolate();
    const big = zeros(shape);
    assert.equal(reported() - tensorsBefore, bytes);
    const grown = isolate() - isolateBefore;
    assert.ok(Math.abs(grown - bytes) <= slack, `V8's external memory grew by ${grown} bytes, expected about ${bytes}`);
    big.dispose();
    assert.equal(reported(), tensorsBefore);
    const left = isolate() - isolateBefore;
    assert.ok(Math.abs(left) <= slack, `V8's external memory still ${left} bytes above the start after dispose`);
  });

  it('views share their storage: counted once, uncounted when the last handle goes', () => {
    const before = reported();
    const big = zeros(shape);
    const view = big.reshape([8, 1024 * 1024]);
    const slice = big.slice(0, 0, 1);
    assert.equal(reported() - before, bytes, 'a view or slice must not count the storage again');
    big.dispose();
    view.dispose();
    assert.equal(reported() - before, bytes, 'the slice still pins the whole storage');
    slice.dispose();
    assert.equal(reported(), before);
  });

  it('handles left to the garbage collector are collected under external-memory pressure alone', async () => {
    // 64 tensors of 4 MiB dropped without dispose: the JS heap grows by a few KiB only, so without the
    // report no GC would run; V8 collects once its external limit (64 MiB above the last GC) is passed.
    const before = liveTensorCount();
    const count = 64;
    for (let i = 0; i < count; i++) {
      zeros([1024, 1024]);
      await new Promise((resolve) => setImmediate(resolve));  // Node runs Node-API finalizers after a GC
    }
    const alive = liveTensorCount() - before;
    assert.ok(alive < count / 2, `${alive} of ${count} dropped 4 MiB tensors still alive: GC did not see their memory`);
  });
});
