/** Elementwise arithmetic, comparisons, selection and matrix products (functional forms). */
import { native, type Handle } from '../native.js';
import { operand, wrap, type Tensor, type TensorLike } from '../tensor.js';

/** Applies `fn` to a temporary native handle and frees it (it is not tracked by any scope). */
function withTemporary(temporary: Handle, fn: (handle: Handle) => Handle): Tensor {
  try {
    return wrap(fn(temporary));
  } finally {
    native.dispose(temporary);
  }
}

/** a + b (broadcasting). */
export function add(a: Tensor, b: TensorLike): Tensor { return a.add(b); }
/** a - b; a may be a number. */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  if (typeof a === 'number') return withTemporary(native.neg((b as Tensor).handle), (negated) => native.add(negated, a));
  return a.sub(b);
}
/** a * b. */
export function mul(a: Tensor, b: TensorLike): Tensor { return a.mul(b); }
/** a / b; a may be a number. */
export function div(a: TensorLike, b: TensorLike): Tensor {
  if (typeof a === 'number') return withTemporary(native.reciprocal((b as Tensor).handle), (inverse) => native.mul(inverse, a));
  return a.div(b);
}
/** a ** b. */
export function pow(a: Tensor, b: TensorLike): Tensor { return a.pow(b); }
/** Remainder with the sign of the divisor (Python's %). */
export function remainder(a: Tensor, b: TensorLike): Tensor { return wrap(native.remainder(a.handle, operand(b))); }
/** Elementwise maximum. */
export function maximum(a: Tensor, b: TensorLike): Tensor { return a.maximum(b); }
/** Elementwise minimum. */
export function minimum(a: Tensor, b: TensorLike): Tensor { return a.minimum(b); }
/** a == b (bool). */
export function eq(a: Tensor, b: TensorLike): Tensor { return a.eq(b); }
/** a != b (bool). */
export function ne(a: Tensor, b: TensorLike): Tensor { return a.ne(b); }
/** a < b (bool). */
export function lt(a: Tensor, b: TensorLike): Tensor { return a.lt(b); }
/** a <= b (bool). */
export function le(a: Tensor, b: TensorLike): Tensor { return a.le(b); }
/** a > b (bool). */
export function gt(a: Tensor, b: TensorLike): Tensor { return a.gt(b); }
/** a >= b (bool). */
export function ge(a: Tensor, b: TensorLike): Tensor { return a.ge(b); }
/** Logical and (bool). */
export function logicalAnd(a: Tensor, b: TensorLike): Tensor { return wrap(native.logicalAnd(a.handle, operand(b))); }
/** Logical or (bool). */
export function logicalOr(a: Tensor, b: TensorLike): Tensor { return wrap(native.logicalOr(a.handle, operand(b))); }
/** Logical not (bool). */
export function logicalNot(a: Tensor): Tensor { return wrap(native.logicalNot(a.handle)); }

export function neg(a: Tensor): Tensor { return a.neg(); }
export function abs(a: Tensor): Tensor { return a.abs(); }
export function exp(a: Tensor): Tensor { return a.exp(); }
export function log(a: Tensor): Tensor { return a.log(); }
export function sqrt(a: Tensor): Tensor { return a.sqrt(); }
export function rsqrt(a: Tensor): Tensor { return wrap(native.rsqrt(a.handle)); }
export function sigmoid(a: Tensor): Tensor { return a.sigmoid(); }
export function tanh(a: Tensor): Tensor { return wrap(native.tanh(a.handle)); }
export function floor(a: Tensor): Tensor { return wrap(native.floor(a.handle)); }
export function ceil(a: Tensor): Tensor { return wrap(native.ceil(a.handle)); }
export function round(a: Tensor): Tensor { return wrap(native.round(a.handle)); }
export function sign(a: Tensor): Tensor { return wrap(native.sign(a.handle)); }
export function square(a: Tensor): Tensor { return wrap(native.square(a.handle)); }
export function reciprocal(a: Tensor): Tensor { return wrap(native.reciprocal(a.handle)); }
export function isnan(a: Tensor): Tensor { return wrap(native.isnan(a.handle)); }
/** Clamps into [min, max]; null leaves that side open. */
export function clamp(a: Tensor, min: number | null, max: number | null = null): Tensor { return a.clamp(min, max); }

/** Elementwise select: condition ? a : b (broadcasting; a and b may be numbers). */
export function where(condition: Tensor, a: TensorLike, b: TensorLike): Tensor {
  return wrap(native.where(condition.handle, operand(a), operand(b)));
}
/** Matrix product with broadcasting (torch.matmul). */
export function matmul(a: Tensor, b: Tensor): Tensor { return a.matmul(b); }
/** Batched matrix product: [B, N, K] x [B, K, M] -> [B, N, M]. */
export function bmm(a: Tensor, b: Tensor): Tensor { return wrap(native.bmm(a.handle, b.handle)); }
