// Tensor creation and the seeded generator. Seeded draws are compared with PyTorch 1.13's
// torch.manual_seed draws recorded by scripts/fixtures/ops_creation.py; the rest is hand-computed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  arange, full, getRngState, manualSeed, ones, onesLike, rand, randint, randn, randperm, scalar, setRngState, tensor,
  zeros, zerosLike,
} from './creation.js';
import { scope } from './scope.js';
import type { Tensor } from './tensor.js';
import { EngineError } from '../errors.js';
import { assertCoversFixture, assertNoLeak, checkOpCase, loadFixture, type OpFn } from './testing.js';

const fixture = loadFixture('creation.json');

function draw(call: Record<string, any>): Tensor {
  switch (call.kind) {
    case 'randn': return randn(call.shape, call.dtype ?? 'float32');
    case 'rand': return rand(call.shape, call.dtype ?? 'float32');
    case 'randint': return randint(call.low, call.high, call.shape);
    case 'randperm': return randperm(call.n);
    default: throw new Error(`unknown draw ${call.kind}`);
  }
}

const ops: Record<string, OpFn> = {
  draws: (_inputs, p) => {
    manualSeed(p.seed);
    const outputs: Record<string, Tensor> = {};
    (p.calls as Record<string, any>[]).forEach((call, i) => { outputs[`call${i}`] = draw(call); });
    return outputs;
  },
  arange: (_inputs, p) => arange(p.start, p.end ?? undefined, p.step, p.dtype),
};

describe('creation matches PyTorch', () => {
  it('every fixture op has an implementation and vice versa', () => assertCoversFixture(fixture, ops));
  for (const testCase of fixture.cases) {
    // Same generator, same kernels: the draws are PyTorch's own, bit for bit.
    it(testCase.name, () => checkOpCase({ ...testCase, tolerance: { rtol: 0, atol: 0 } }, ops[testCase.op]));
  }
});

describe('tensor()', () => {
  it('infers the dtype from the data', () => scope(() => {
    assert.equal(tensor([1.5, 2]).dtype, 'float32');
    assert.equal(tensor(new Float64Array([1])).dtype, 'float64');
    assert.equal(tensor(new Int32Array([1])).dtype, 'int32');
    assert.equal(tensor(new BigInt64Array([1n])).dtype, 'int64');
    assert.equal(tensor(new Uint8Array([1])).dtype, 'uint8');
  }));

  it('converts number[] to the requested dtype', () => scope(() => {
    const ids = tensor([3, -1, 2 ** 40], [3], { dtype: 'int64' });
    assert.equal(ids.dtype, 'int64');
    assert.deepEqual(Array.from(ids.toTypedArray() as BigInt64Array), [3n, -1n, 2n ** 40n]);
    const flags = tensor([0, 1, 2], [3], { dtype: 'bool' });
    assert.equal(flags.dtype, 'bool');
    assert.deepEqual(flags.toArray(), [0, 1, 1]);
  }));

  it('is 1-D by default, takes a shape, and copies the data', () => scope(() => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const matrix = tensor(data, [2, 3]);
    data[0] = 100;
    assert.deepEqual(tensor([1, 2, 3]).shape, [3]);
    assert.deepEqual(matrix.shape, [2, 3]);
    assert.deepEqual(matrix.toArray(), [1, 2, 3, 4, 5, 6]);
  }));

  it('throws EngineError when the shape does not match the data', () => {
    assert.throws(() => tensor([1, 2, 3, 4, 5], [2, 3]), (error: unknown) =>
      error instanceof EngineError &&
        error.message === 'fromTypedArray: tensor(): shape holds 6 elements but data has 5 (arguments: typed array of 5, [2, 3], undefined, false)');
  });

  it('throws EngineError for unsupported typed arrays', () => {
    for (const data of [new Int16Array([1]), new Int8Array([1]), new Uint8ClampedArray([1]), new DataView(new ArrayBuffer(4))]) {
      assert.throws(() => tensor(data as unknown as Int32Array), (error: unknown) =>
        error instanceof EngineError && /use Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array or number\[\]/.test(error.message),
        data.constructor.name);
    }
  });

  it('requiresGrad on an integer tensor throws EngineError, never crashes', () => {
    assert.throws(() => tensor([1, 2], [2], { dtype: 'int64', requiresGrad: true }), (error: unknown) =>
      error instanceof EngineError && /floating point/.test(error.message));
  });
});

describe('filled tensors', () => {
  it('zeros, ones, full, scalar and the *Like forms', () => scope(() => {
    assert.deepEqual(zeros([2, 2]).toArray(), [0, 0, 0, 0]);
    assert.equal(zeros([2], 'int64').dtype, 'int64');
    assert.deepEqual(ones([3], 'uint8').toArray(), [1, 1, 1]);
    const sevens = full([2, 3], 7.5);
    assert.deepEqual(sevens.shape, [2, 3]);
    assert.ok(sevens.toArray().every((value) => value === 7.5));
    assert.deepEqual(full([2], 255, 'int64').toArray(), [255, 255]);
    assert.deepEqual(scalar(2.5).shape, []);
    assert.equal(scalar(2.5).item(), 2.5);
    const like = zerosLike(sevens);
    assert.deepEqual([like.shape, like.dtype, like.toArray()], [[2, 3], 'float32', [0, 0, 0, 0, 0, 0]]);
    assert.deepEqual(onesLike(full([2], 3, 'int64')).toArray(), [1, 1]);
  }));

  it('a zero-sized tensor is fine', () => scope(() => {
    const empty = zeros([0, 3]);
    assert.equal(empty.size, 0);
    assert.deepEqual(empty.toArray(), []);
  }));
});

describe('random generator', () => {
  it('the same seed gives the same draws, another seed others', () => scope(() => {
    manualSeed(11);
    const first = randn([10]).toArray();
    manualSeed(11);
    assert.deepEqual(randn([10]).toArray(), first);
    manualSeed(12);
    assert.notDeepEqual(randn([10]).toArray(), first);
  }));

  it('getRngState/setRngState resume the exact sequence', () => scope(() => {
    manualSeed(5);
    randn([3]);
    const state = getRngState();
    const expected = [randn([20]).toArray(), rand([4]).toArray()];
    randn([100]); // move on
    setRngState(state);
    assert.deepEqual([randn([20]).toArray(), rand([4]).toArray()], expected);
  }));

  it('setRngState rejects a malformed state with EngineError', () => {
    assert.throws(() => setRngState(new Uint8Array(10)), EngineError);
  });

  it('manualSeed rejects negative and fractional seeds', () => {
    for (const seed of [-1, 1.5, Number.NaN]) {
      assert.throws(() => manualSeed(seed), (error: unknown) =>
        error instanceof EngineError && /manualSeed: expected a non-negative integer/.test(error.message));
    }
  });

  it('randint stays in [low, high) and randperm is a permutation', () => scope(() => {
    manualSeed(0);
    assert.ok(randint(-2, 3, [500]).toArray().every((value) => value >= -2 && value < 3));
    assert.deepEqual(randperm(50).toArray().sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  }));
});

describe('creation does not leak', () => {
  const creators: Record<string, () => unknown> = {
    tensor: () => tensor([1, 2]), zeros: () => zeros([2]), ones: () => ones([2]), full: () => full([2], 1),
    scalar: () => scalar(1), arange: () => arange(3), randn: () => randn([2]), rand: () => rand([2]),
    randint: () => randint(0, 2, [2]), randperm: () => randperm(3), zerosLike: () => zerosLike(ones([2])),
    onesLike: () => onesLike(ones([2])),
  };
  for (const [name, create] of Object.entries(creators)) {
    it(name, () => assertNoLeak(name, () => void create()));
  }
});
