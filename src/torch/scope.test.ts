// scope()/keep()/noGrad(): deterministic freeing of every tensor but the result, and grad-mode control.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getNumThreads, keep, liveTensorCount, noGrad, scope, setNumThreads } from './scope.js';
import { ones, tensor } from './creation.js';
import type { Tensor } from './tensor.js';
import { native } from './native.js';
import { EngineError } from '../errors.js';

/** Runs fn and returns how many handles it left alive. */
function leftAlive(fn: () => void): number {
  const before = liveTensorCount();
  fn();
  return liveTensorCount() - before;
}

describe('scope()', () => {
  it('frees every tensor created inside except the returned one', () => {
    let result: Tensor | undefined;
    let intermediate: Tensor | undefined;
    assert.equal(leftAlive(() => {
      result = scope(() => {
        intermediate = ones([2]).mul(3);
        return intermediate.add(1);
      });
    }), 1);
    assert.equal(intermediate!.isLive, false);
    assert.deepEqual(result!.toArray(), [4, 4]);
    result!.dispose();
  });

  it('keeps tensors inside returned arrays, plain objects and Maps (nested)', () => {
    const alive = leftAlive(() => {
      const result = scope(() => {
        ones([1]);
        return { list: [ones([1]), ones([1])], nested: { deep: { deeper: { deepest: ones([1]) } } }, map: new Map([['m', ones([1])]]), count: 3 };
      });
      assert.equal(result.count, 3);
      assert.ok(result.list.every((t) => t.isLive) && result.nested.deep.deeper.deepest.isLive && result.map.get('m')!.isLive);
      for (const t of [...result.list, result.nested.deep.deeper.deepest, result.map.get('m')!]) t.dispose();
    });
    assert.equal(alive, 0);
  });

  it('keeps tensors in Sets and at any depth; a cyclic result is walked once', () => {
    const alive = leftAlive(() => {
      const result = scope(() => {
        const cyclic: { self?: unknown; tensor: Tensor } = { tensor: ones([1]) };
        cyclic.self = cyclic;
        return { set: new Set([ones([1])]), deep: [[[[[[{ deepest: ones([1]) }]]]]]], cyclic, numbers: Array.from({ length: 1000 }, (_, i) => i) };
      });
      const tensors = [...result.set, result.deep[0][0][0][0][0][0].deepest, result.cyclic.tensor];
      assert.ok(tensors.every((t) => t.isLive));
      tensors.forEach((t) => t.dispose());
    });
    assert.equal(alive, 0);
  });

  it('throws for a tensor of the scope inside a class instance, naming where, and frees the scope\'s tensors', () => {
    class Prediction {
      constructor(readonly logits: Tensor) {}
    }
    const alive = leftAlive(() => {
      assert.throws(() => scope(() => ({ outputs: [new Prediction(ones([2]).mul(2))] })), (error: unknown) =>
        error instanceof TypeError && /the result holds a tensor created in the scope at result\.outputs\[0\]\.logits, inside a Prediction instance/.test(error.message) &&
        /Return the tensors in a plain object or an array .* or keep\(\) them inside fn/.test(error.message));
    });
    assert.equal(alive, 0);
  });

  it('accepts class instances whose tensors outlive the scope (kept, created outside, or also returned directly)', () => {
    class Holder {
      constructor(readonly tensor: Tensor) {}
    }
    const outside = ones([1]);
    const alive = leftAlive(() => {
      const result = scope(() => {
        const logits = ones([1]);
        return { logits, holders: [new Holder(keep(ones([1]))), new Holder(outside), new Holder(logits)] };
      });
      assert.ok(result.logits.isLive && result.holders.every((holder) => holder.tensor.isLive));
      result.logits.dispose();
      result.holders[0].tensor.dispose();
    });
    assert.equal(alive, 0);
    outside.dispose();
  });

  it('nested scopes move a result to the enclosing scope, which frees it unless it returns it too', () => {
    let inner: Tensor | undefined;
    const alive = leftAlive(() => {
      scope(() => {
        inner = scope(() => ones([2]).mul(2));
        assert.equal(inner.isLive, true);
        return 42;
      });
    });
    assert.equal(inner!.isLive, false);
    assert.equal(alive, 0);
  });

  it('frees everything and rethrows when fn throws', () => {
    const failure = new Error('boom');
    let created: Tensor | undefined;
    const alive = leftAlive(() => {
      assert.throws(() => scope(() => {
        created = ones([3]);
        scope(() => ones([3]));
        throw failure;
      }), (error: unknown) => error === failure);
    });
    assert.equal(created!.isLive, false);
    assert.equal(alive, 0);
  });

  it('an engine error inside a scope leaves no handles behind', () => {
    assert.equal(leftAlive(() => {
      assert.throws(() => scope(() => ones([2]).add(ones([3]))), EngineError);
    }), 0);
  });

  it('rejects an async fn with a TypeError and frees its tensors', () => {
    const before = liveTensorCount();
    assert.throws(() => scope(() => {
      ones([2]);
      return Promise.resolve(1);
    }), (error: unknown) => error instanceof TypeError && /scopes are synchronous/.test(error.message));
    assert.equal(liveTensorCount(), before);
  });

  it('does not free a returned tensor that was created outside it', () => {
    const outside = ones([2]);
    const same = scope(() => outside);
    assert.equal(same, outside);
    assert.equal(outside.isLive, true);
    outside.dispose();
  });

  it('tolerates tensors disposed explicitly inside it (dispose is idempotent)', () => {
    assert.equal(leftAlive(() => scope(() => {
      const t = ones([2]);
      t.dispose();
      t.dispose();
    })), 0);
  });
});

describe('keep()', () => {
  it('exempts a tensor from every open scope; the caller disposes it', () => {
    let kept: Tensor | undefined;
    const alive = leftAlive(() => {
      scope(() => scope(() => {
        kept = keep(ones([2]));
        ones([2]);
      }));
    });
    assert.equal(alive, 1);
    assert.equal(kept!.isLive, true);
    kept!.dispose();
  });
});

describe('noGrad()', () => {
  it('records no graph inside and restores grad mode after', () => scope(() => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    const inside = noGrad(() => x.mul(2));
    assert.equal(inside.requiresGrad, false);
    assert.throws(() => noGrad(() => x.mul(2).sum()).backward(), EngineError);
    assert.equal(native.isGradEnabled(), true);
    assert.equal(x.mul(2).requiresGrad, true);
  }));

  it('nests, returns fn\'s value and restores grad mode when fn throws', () => {
    assert.equal(noGrad(() => noGrad(() => native.isGradEnabled())), false);
    assert.equal(noGrad(() => 7), 7);
    assert.throws(() => noGrad(() => { throw new Error('inside'); }), /inside/);
    assert.equal(native.isGradEnabled(), true);
  });
});

describe('threads', () => {
  it('setNumThreads/getNumThreads round trip; 0 threads is an EngineError', () => {
    const previous = getNumThreads();
    setNumThreads(1);
    assert.equal(getNumThreads(), 1);
    setNumThreads(previous);
    assert.equal(getNumThreads(), previous);
    assert.throws(() => setNumThreads(0), (error: unknown) =>
      error instanceof EngineError && /setNumThreads: expected between 1 and 1024 threads, got 0/.test(error.message));
  });
});
