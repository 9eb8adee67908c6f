/** Elementwise arithmetic, comparisons, selection and matrix products (functional forms). */
import { native, type Handle } from '../native.js';
import { handleOf, expectTensor, operand, wrap, type Tensor, type TensorLike } from '../tensor.js';

/** Applies `fn` to a temporary native handle and frees it (it is not tracked by any scope). */
function withTemporary(temporary: Handle, fn: (handle: Handle) => Handle): Tensor {
  try {
    return wrap(fn(temporary));
  } finally {
    native.dispose(temporary);
  }
}

/** a + b (broadcasting). */
export function add(a: Tensor, b: TensorLike): Tensor { return expectTensor(a, 'add', 'a').add(b); }
/** a - b; a may be a number. */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  if (typeof a === 'number') return withTemporary(native.neg(handleOf(b, 'sub', 'b')), (negated) => native.add(negated, a));
  return expectTensor(a, 'sub', 'a').sub(b);
}
/** a * b. */
export function mul(a: Tensor, b: TensorLike): Tensor { return expectTensor(a, 'mul', 'a').mul(b); }
/** a / b; a may be a number. */
export function div(a: TensorLike, b: TensorLike): Tensor {
  if (typeof a === 'number') return withTemporary(native.reciprocal(handleOf(b, 'div', 'b')), (inverse) => native.mul(inverse, a));
  return expectTensor(a, 'div', 'a').div(b);
}
/** a ** b. */
export function pow(a: Tensor, b: TensorLike): Tensor { return expectTensor(a, 'pow', 'a').pow(b); }
/** Remainder with the sign of the divisor (Python's %). */
export function remainder(a: Tensor, b: TensorLike): Tensor { return wrap(native.remainder(handleOf(a, 'remainder', 'a'), operand(b, 'remainder', 'b'))); }
/** Elementwise maximum. */
export function maximum(a: Tensor, b: TensorLike): Tensor { return expectTensor(a, 'maximum', 'a').maximum(b); }
/** Elementwise minimum. */
export function minimum(a: Tensor, b: TensorLike): Tensor { return expectTensor(a, 'minimum', 'a').minimum(b); }
/** a == b (bool). */
export function eq(a: Tensor, b: TensorLike): Tensor { return expectTensor(a, 'eq', 'a').eq(b); }
/** a != b (bool). */
export function ne(a: Tensor, b: TensorLike): Tensor { return expectTensor(a, 'ne', 'a').ne(b); }
/** a < b (bool). */
export function lt(a: Tensor, b: TensorLike): Tensor { return expectTensor(a, 'lt', 'a').lt(b); }
/** a <= b (bool). */
export function le(a: Tensor, b: TensorLike): Tensor { return expectTensor(a, 'le', 'a').le(b); }
/** a > b (bool). */
export function gt(a: Tensor, b: TensorLike): Tensor { return expectTensor(a, 'gt', 'a').gt(b); }
/** a >= b (bool). */
export function ge(a: Tensor, b: TensorLike): Tensor { return expectTensor(a, 'ge', 'a').ge(b); }
/** Logical and (bool). */
export function logicalAnd(a: Tensor, b: TensorLike): Tensor { return wrap(native.logicalAnd(handleOf(a, 'logicalAnd', 'a'), operand(b, 'logicalAnd', 'b'))); }
/** Logical or (bool). */
export function logicalOr(a: Tensor, b: TensorLike): Tensor { return wrap(native.logicalOr(handleOf(a, 'logicalOr', 'a'), operand(b, 'logicalOr', 'b'))); }
/** Logical not (bool). */
export function logicalNot(a: Tensor): Tensor { return wrap(native.logicalNot(handleOf(a, 'logicalNot', 'a'))); }

export function neg(a: Tensor): Tensor { return expectTensor(a, 'neg', 'a').neg(); }
export function abs(a: Tensor): Tensor { return expectTensor(a, 'abs', 'a').abs(); }
export function exp(a: Tensor): Tensor { return expectTensor(a, 'exp', 'a').exp(); }
export function log(a: Tensor): Tensor { return expectTensor(a, 'log', 'a').log(); }
export function sqrt(a: Tensor): Tensor { return expectTensor(a, 'sqrt', 'a').sqrt(); }
export function rsqrt(a: Tensor): Tensor { return wrap(native.rsqrt(handleOf(a, 'rsqrt', 'a'))); }
export function sigmoid(a: Tensor): Tensor { return expectTensor(a, 'sigmoid', 'a').sigmoid(); }
export function tanh(a: Tensor): Tensor { return wrap(native.tanh(handleOf(a, 'tanh', 'a'))); }
export function floor(a: Tensor): Tensor { return wrap(native.floor(handleOf(a, 'floor', 'a'))); }
export function ceil(a: Tensor): Tensor { return wrap(native.ceil(handleOf(a, 'ceil', 'a'))); }
export function round(a: Tensor): Tensor { return wrap(native.round(handleOf(a, 'round', 'a'))); }
export function sign(a: Tensor): Tensor { return wrap(native.sign(handleOf(a, 'sign', 'a'))); }
export function square(a: Tensor): Tensor { return wrap(native.square(handleOf(a, 'square', 'a'))); }
export function reciprocal(a: Tensor): Tensor { return wrap(native.reciprocal(handleOf(a, 'reciprocal', 'a'))); }
export function isnan(a: Tensor): Tensor { return wrap(native.isnan(handleOf(a, 'isnan', 'a'))); }
/** Clamps into [min, max]; null leaves that side open. */
export function clamp(a: Tensor, min: number | null, max: number | null = null): Tensor { return expectTensor(a, 'clamp', 'a').clamp(min, max); }

/** Elementwise select: condition ? a : b (broadcasting; a and b may be numbers). */
export function where(condition: Tensor, a: TensorLike, b: TensorLike): Tensor {
  return wrap(native.where(handleOf(condition, 'where', 'condition'), operand(a, 'where', 'a'), operand(b, 'where', 'b')));
}
/** Matrix product with broadcasting (torch.matmul). */
export function matmul(a: Tensor, b: Tensor): Tensor { return expectTensor(a, 'matmul', 'a').matmul(b); }
/** Batched matrix product: [B, N, K] x [B, K, M] -> [B, N, M]. */
export function bmm(a: Tensor, b: Tensor): Tensor { return wrap(native.bmm(handleOf(a, 'bmm', 'a'), handleOf(b, 'bmm', 'b'))); }
