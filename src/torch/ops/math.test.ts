// Elementwise arithmetic, comparisons, logic, where and matrix products against PyTorch 1.13
// (fixtures from scripts/fixtures/ops_math.py): values, gradients, and no leaked handles per op.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as math from './math.js';
import { tensor } from '../creation.js';
import { scope } from '../scope.js';
import { assertNoLeak, describeFixture, loadFixture, type OpFn } from '../testing.js';

const fixture = loadFixture('ops-math.json');

type Binary = (a: any, b: any) => ReturnType<OpFn>;
const binary = (fn: Binary): OpFn => ({ a, b }) => fn(a, b);
const withScalar = (fn: Binary): OpFn => ({ a }, p) => fn(a, p.scalar);
const unary = (fn: (a: any) => ReturnType<OpFn>): OpFn => ({ a }) => fn(a);

const ops: Record<string, OpFn> = {
  add: binary(math.add), add_scalar: withScalar(math.add),
  sub: binary(math.sub), sub_scalar: withScalar(math.sub), rsub_scalar: ({ a }, p) => math.sub(p.scalar, a),
  mul: binary(math.mul), mul_scalar: withScalar(math.mul),
  div: binary(math.div), div_scalar: withScalar(math.div), rdiv_scalar: ({ a }, p) => math.div(p.scalar, a),
  pow: binary(math.pow), pow_scalar: withScalar(math.pow),
  remainder: binary(math.remainder), remainder_scalar: withScalar(math.remainder),
  maximum: binary(math.maximum), maximum_scalar: withScalar(math.maximum),
  minimum: binary(math.minimum), minimum_scalar: withScalar(math.minimum),
  eq: binary(math.eq), eq_scalar: withScalar(math.eq), ne: binary(math.ne), ne_scalar: withScalar(math.ne),
  lt: binary(math.lt), lt_scalar: withScalar(math.lt), le: binary(math.le), le_scalar: withScalar(math.le),
  gt: binary(math.gt), gt_scalar: withScalar(math.gt), ge: binary(math.ge), ge_scalar: withScalar(math.ge),
  logicalAnd: binary(math.logicalAnd), logicalAnd_scalar: withScalar(math.logicalAnd),
  logicalOr: binary(math.logicalOr), logicalOr_scalar: withScalar(math.logicalOr),
  logicalNot: unary(math.logicalNot),
  neg: unary(math.neg), abs: unary(math.abs), exp: unary(math.exp), log: unary(math.log), sqrt: unary(math.sqrt),
  rsqrt: unary(math.rsqrt), sigmoid: unary(math.sigmoid), tanh: unary(math.tanh), floor: unary(math.floor),
  ceil: unary(math.ceil), round: unary(math.round), sign: unary(math.sign), square: unary(math.square),
  reciprocal: unary(math.reciprocal), relu: unary((a) => a.relu()), isnan: unary(math.isnan),
  clamp: ({ a }, p) => math.clamp(a, p.min, p.max),
  where: ({ condition, a, b }) => math.where(condition, a, b),
  where_scalar_a: ({ condition, b }, p) => math.where(condition, p.a, b),
  where_scalar_b: ({ condition, a }, p) => math.where(condition, a, p.b),
  where_scalars: ({ condition }, p) => math.where(condition, p.a, p.b),
  matmul: binary(math.matmul), bmm: binary(math.bmm),
};

describeFixture('math ops match PyTorch', fixture, ops);

describe('math ops, hand-computed', () => {
  it('comparisons return bool tensors', () => scope(() => {
    const values = tensor([1, 2, 3]);
    assert.equal(math.gt(values, 2).dtype, 'bool');
    assert.deepEqual(math.gt(values, 2).toArray(), [0, 0, 1]);
  }));

  it('integer arithmetic stays integer and a float scalar promotes it to float', () => scope(() => {
    const counts = tensor([1, 2, 3], [3], { dtype: 'int64' });
    assert.equal(counts.add(counts).dtype, 'int64');
    assert.deepEqual(counts.mul(2).toArray(), [2, 4, 6]);
    assert.equal(counts.mul(0.5).dtype, 'float32');
    assert.deepEqual(counts.mul(0.5).toArray(), [0.5, 1, 1.5]);
  }));

  it('number-first sub and div free their intermediate handles', () => {
    assertNoLeak('sub(number, tensor)', () => void math.sub(1, tensor([1, 2])));
    assertNoLeak('div(number, tensor)', () => void math.div(1, tensor([1, 2])));
  });
});
