// The test helpers must fail loudly and precisely, or every oracle test built on them proves nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from './creation.js';
import { scope } from './scope.js';
import { assertClose, specValues, tensorFromSpec, type TensorSpec } from './testing.js';

describe('assertClose', () => {
  it('accepts values within atol + rtol * |expected|, NaN against NaN and equal infinities', () => {
    assertClose([1.000001, Number.NaN, Number.POSITIVE_INFINITY], [1, Number.NaN, Number.POSITIVE_INFINITY]);
    assertClose([100.0009], [100], { rtol: 1e-5, atol: 0 });
  });

  it('names the worst element, its coordinates and the number of failures', () => scope(() => {
    const actual = tensor([1, 2, 3, 4.5, 5, 6.01], [2, 3]);
    assert.throws(() => assertClose(actual, [1, 2, 3, 4, 5, 6], { what: 'probe' }), (error: unknown) =>
      error instanceof Error && error.message.startsWith('probe: 2 of 6 elements differ (rtol=0.00001, atol=0.000001); worst at [1, 0]: got 4.5, expected 4'));
  }));

  it('rejects NaN where a number is expected, and a wrong infinity', () => {
    assert.throws(() => assertClose([Number.NaN], [1]), /1 of 1 elements differ/);
    assert.throws(() => assertClose([Number.NEGATIVE_INFINITY], [Number.POSITIVE_INFINITY]), /1 of 1 elements differ/);
  });

  it('checks shape and dtype against a spec, and integer values exactly', () => scope(() => {
    const spec: TensorSpec = { dtype: 'int64', shape: [2], data: [1, 2] };
    assertClose(tensor([1, 2], [2], { dtype: 'int64' }), spec);
    assert.throws(() => assertClose(tensor([1, 2]), spec), /dtype float32 != expected int64/);
    assert.throws(() => assertClose(tensor([1, 2], [1, 2], { dtype: 'int64' }), spec), /shape \[1,2\] != expected \[2\]/);
    assert.throws(() => assertClose(tensor([1, 3], [2], { dtype: 'int64' }), spec), /rtol=0, atol=0/);
  }));
});

describe('fixture specs', () => {
  it('decode non-finite values and build tensors of each dtype', () => scope(() => {
    assert.deepEqual(specValues({ dtype: 'float64', shape: [3], data: ['NaN', 'Infinity', '-Infinity'] }),
      [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    // 9 significant digits stand for the nearest float32.
    assert.equal(specValues({ dtype: 'float32', shape: [1], data: [0.100000001] })[0], Math.fround(0.1));
    const flags = tensorFromSpec({ dtype: 'bool', shape: [2], data: [1, 0] });
    assert.deepEqual([flags.dtype, flags.toArray()], ['bool', [1, 0]]);
    const leaf = tensorFromSpec({ dtype: 'float32', shape: [1, 2], data: [1, 2] }, true);
    assert.deepEqual([leaf.shape, leaf.requiresGrad], [[1, 2], true]);
  }));
});
