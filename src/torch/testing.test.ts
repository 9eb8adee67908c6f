// The test helpers must fail loudly and precisely, or every oracle test built on them proves nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from './creation.js';
import { scope } from './scope.js';
import type { Tensor } from './tensor.js';
import {
  FLOAT32_TOLERANCE, assertClose, caseTolerance, checkOpCase, specValues, tensorFromSpec, type OpCase, type TensorSpec,
} from './testing.js';

describe('assertClose', () => {
  it('accepts values within atol + rtol * |expected|, NaN against NaN and equal infinities', () => {
    assertClose([1.000001, Number.NaN, Number.POSITIVE_INFINITY], [1, Number.NaN, Number.POSITIVE_INFINITY]);
    assertClose([100.0009], [100], { rtol: 1e-5, atol: 0 });
  });

  it('names the worst element, its coordinates and the number of failures', () => scope(() => {
    const actual = tensor([1, 2, 3, 4.5, 5, 6.01], [2, 3]);
    assert.throws(() => assertClose(actual, [1, 2, 3, 4, 5, 6], { rtol: 1e-5, atol: 1e-6, what: 'probe' }), (error: unknown) =>
      error instanceof Error && error.message.startsWith('probe: 2 of 6 elements differ (rtol=0.00001, atol=0.000001); worst at [1, 0]: got 4.5, expected 4'));
  }));

  it('default: 128 u relative plus 128 u absolute (two float32 evaluations of <= 64 u each)', () => {
    const allowance = 2 * 64 * 2 ** -24;
    assert.deepEqual(FLOAT32_TOLERANCE, { rtol: allowance, atol: allowance });
    assertClose([2 + 0.99 * 3 * allowance], [2]);
    assert.throws(() => assertClose([2 + 1.01 * 3 * allowance], [2]), /1 of 1 elements differ/);
  });

  it('per-element bounds: each element within its own absolute bound, the worst one named with its bound', () => {
    assertClose([1.5, 2.09], [1, 2], { rtol: 0, atol: 0, bound: [0.5, 0.1] });
    assert.throws(() => assertClose([1.5, 2.11], [1, 2], { rtol: 0, atol: 0, bound: [0.5, 0.1] }),
      /1 of 2 elements differ \(rtol=0, atol=0, per-element bound 0.1\); worst at index 1/);
    assert.throws(() => assertClose([1], [1], { bound: [0.1, 0.1] }), /2 bounds for 1 elements/);
  });

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

describe('fixture case allowances', () => {
  const spec = (data: number[]): TensorSpec => ({ dtype: 'float32', shape: [data.length], data });
  const doubled = (value: number): OpCase => ({
    name: 'double', op: 'mul', params: {}, inputs: { x: spec([1, -8]) }, outputs: { out: spec([2, value]) },
    upstream: {}, grads: {},
  });

  it('caseTolerance scales atol by the largest magnitude among the case\'s float values', () => {
    const tolerance = caseTolerance(doubled(-16));
    assert.equal(tolerance.rtol, FLOAT32_TOLERANCE.rtol);
    assert.equal(tolerance.atol, FLOAT32_TOLERANCE.atol * 16);
  });

  it('generator bounds replace the default, so a wrong value beyond its bound fails', () => scope(() => {
    const run = (inputs: Record<string, Tensor>): Tensor => inputs.x.mul(2);
    checkOpCase({ ...doubled(-16.25), bounds: { why: 'test', outputs: { out: [0, 0.25] }, grads: {} } }, run);
    assert.throws(() => checkOpCase({ ...doubled(-16.25), bounds: { why: 'test', outputs: { out: [0, 0.2] }, grads: {} } }, run),
      /per-element bound 0.2/);
    assert.throws(() => checkOpCase(doubled(-16.01), run), /1 of 2 elements differ/);
  }));
});
