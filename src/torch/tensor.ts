/**
 * Tensor: a JS handle on a libtorch tensor. Ownership: a returned tensor belongs to the caller, inputs
 * are borrowed. Free with `dispose()` or create inside `scope(fn)`.
 */
import { native, type Handle, type Operand } from './native.js';
import { setTensorPredicate, track } from './scope.js';
import { EngineError } from '../errors.js';

/** Element types. int64 values come back as BigInt64Array from toTypedArray(); bool as Uint8Array. */
export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';
/** What toTypedArray() returns. */
export type TypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
/** A tensor or a number (broadcast as a scalar). */
export type TensorLike = Tensor | number;

/** @internal A non-tensor value as an error message names it: "null", "the string 'x'", "a plain object". */
export function describeArgument(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  if (typeof value !== 'object' && typeof value !== 'function') return `the ${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return `an array of ${value.length} elements`;
  const name = (value as { constructor?: { name?: string } }).constructor?.name;
  return name === undefined || name === 'Object' ? 'a plain object' : `a ${name}`;
}

/**
 * @internal The tensor `value`, checked before any property of it is read.
 * @throws EngineError naming the op and the argument when `value` is not a Tensor (null, a number, a handle...).
 */
export function expectTensor(value: unknown, op: string, what: string): Tensor {
  if (!(value instanceof Tensor)) throw new EngineError(`${op}: expected a Tensor for ${what}, got ${describeArgument(value)}`);
  // Before its shape or dtype is read: a disposed or forged tensor must fail as this op, not as `shape`.
  let live: boolean;
  try {
    live = native.isLive(value.handle);
  } catch (error) {
    const reason = (error as Error).message.replace(/ \(arguments: .*\)$/, '').replace(/^isLive: /, '');
    throw new EngineError(`${op}: ${what} is not a contraseg tensor (${reason})`);
  }
  if (!live) throw new EngineError(`${op}: ${what} was already disposed; keep it (keep()/return it from scope()) while it is used`);
  return value;
}

/** @internal The handle of tensor argument `what` of `op`. @throws EngineError if it is not a Tensor. */
export function handleOf(value: unknown, op: string, what: string): Handle {
  return expectTensor(value, op, what).handle;
}

/** @internal An optional tensor argument: null for null/undefined, else its handle. @throws EngineError. */
export function optionalHandleOf(value: unknown, op: string, what: string): Handle | null {
  return value === null || value === undefined ? null : handleOf(value, op, what);
}

/** @internal The handles of a list of tensors. @throws EngineError if it is not an array of Tensors. */
export function handlesOf(values: unknown, op: string, what: string): Handle[] {
  if (!Array.isArray(values)) throw new EngineError(`${op}: expected an array of Tensors for ${what}, got ${describeArgument(values)}`);
  return values.map((value: unknown, index) => handleOf(value, op, `${what}[${index}]`));
}

/** @internal Unwraps an operand (a Tensor or a number) for the addon. @throws EngineError for anything else. */
export function operand(value: unknown, op = 'an elementwise op', what = 'the operand'): Operand {
  return typeof value === 'number' ? value : handleOf(value, op, what);
}

/** @internal Wraps a fresh native handle (registers it with the current scope). */
export function wrap(handle: Handle): Tensor {
  return new Tensor(handle);
}

/**
 * Every gradient wrapper `Tensor.grad` has handed out and not yet dropped. backward() disposes them all
 * first: a live extra handle on a gradient would make libtorch accumulate out of place (a new buffer per
 * parameter per step) and leave the wrapper holding stale values.
 */
const handedOutGrads = new Set<Tensor>();

/** An n-dimensional array on the CPU, with optional autograd. Layout NCHW for images. */
export class Tensor {
  /** @internal */
  readonly handle: Handle;
  private cachedShape: number[] | undefined;
  private cachedGrad: Tensor | undefined;

  /** @internal Use the creation functions (tensor, zeros, ...) instead. */
  constructor(handle: Handle) {
    this.handle = handle;
    track(this);
  }

  /** Sizes of each dimension (a copy). */
  get shape(): number[] {
    this.cachedShape ??= native.shape(this.handle);
    return [...this.cachedShape];
  }
  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((product, dim) => product * dim, 1);
  }
  /** Element type. */
  get dtype(): DType {
    return native.dtype(this.handle) as DType;
  }
  /** False once disposed. */
  get isLive(): boolean {
    return native.isLive(this.handle);
  }

  /**
   * Frees the native tensor now (and the wrapper `grad` returned, if any). Idempotent. Autograd graphs
   * that still need it keep their own reference.
   */
  dispose(): void {
    if (this.cachedGrad !== undefined) this.dropGrad();
    native.dispose(this.handle);
  }

  /** A copy of the values in row-major order (int64 -> BigInt64Array, bool -> Uint8Array). */
  toTypedArray(): TypedArray {
    return native.toTypedArray(this.handle);
  }
  /** The values as plain numbers, row-major (int64 converted with Number()). */
  toArray(): number[] {
    const values = this.toTypedArray();
    return values instanceof BigInt64Array ? Array.from(values, Number) : Array.from(values);
  }
  /** The single value of a one-element tensor. @throws EngineError if it has more elements. */
  item(): number {
    return native.item(this.handle);
  }

  /** Whether autograd tracks operations on this tensor. */
  get requiresGrad(): boolean {
    return native.requiresGrad(this.handle);
  }
  /** Turns gradient tracking on or off for a leaf tensor; returns this. */
  setRequiresGrad(on = true): this {
    native.setRequiresGrad(this.handle, on);
    return this;
  }
  /**
   * The accumulated gradient, or null before backward(). Borrowed: every access returns the same Tensor
   * (no new handle per access) until the gradient changes; it is disposed by the next backward() (of any
   * tensor), by zeroGrad() or dispose() of this tensor, or by the scope open at the first access. Do not
   * dispose it; `clone()` it to keep values past any of those.
   */
  get grad(): Tensor | null {
    const cached = this.cachedGrad;
    if (cached !== undefined && cached.isLive && native.isGradOf(this.handle, cached.handle)) return cached;
    if (cached !== undefined) this.dropGrad();
    const handle = native.grad(this.handle);
    if (handle === null) return null;
    const grad = wrap(handle);
    this.cachedGrad = grad;
    handedOutGrads.add(grad);
    return grad;
  }
  /** Drops the accumulated gradient (and disposes the wrapper `grad` returned). */
  zeroGrad(): void {
    if (this.cachedGrad !== undefined) this.dropGrad();
    native.zeroGrad(this.handle);
  }
  /**
   * Backpropagates from this tensor (a scalar, or pass the output gradient). Disposes every wrapper
   * returned by `grad` so far, of any tensor (see grad).
   */
  backward(gradient?: Tensor): void {
    for (const grad of handedOutGrads) grad.dispose();
    handedOutGrads.clear();
    native.backward(this.handle, gradient === undefined ? undefined : handleOf(gradient, 'backward', 'gradient'));
  }

  private dropGrad(): void {
    const grad = this.cachedGrad as Tensor;
    this.cachedGrad = undefined;
    handedOutGrads.delete(grad);
    grad.dispose();
  }

  to(dtype: DType): Tensor { return wrap(native.to(this.handle, dtype)); }
  clone(): Tensor { return wrap(native.clone(this.handle)); }
  detach(): Tensor { return wrap(native.detach(this.handle)); }
  contiguous(): Tensor { return wrap(native.contiguous(this.handle)); }

  add(other: TensorLike): Tensor { return wrap(native.add(this.handle, operand(other, 'add', 'other'))); }
  sub(other: TensorLike): Tensor { return wrap(native.sub(this.handle, operand(other, 'sub', 'other'))); }
  mul(other: TensorLike): Tensor { return wrap(native.mul(this.handle, operand(other, 'mul', 'other'))); }
  div(other: TensorLike): Tensor { return wrap(native.div(this.handle, operand(other, 'div', 'other'))); }
  pow(other: TensorLike): Tensor { return wrap(native.pow(this.handle, operand(other, 'pow', 'other'))); }
  maximum(other: TensorLike): Tensor { return wrap(native.maximum(this.handle, operand(other, 'maximum', 'other'))); }
  minimum(other: TensorLike): Tensor { return wrap(native.minimum(this.handle, operand(other, 'minimum', 'other'))); }
  eq(other: TensorLike): Tensor { return wrap(native.eq(this.handle, operand(other, 'eq', 'other'))); }
  ne(other: TensorLike): Tensor { return wrap(native.ne(this.handle, operand(other, 'ne', 'other'))); }
  lt(other: TensorLike): Tensor { return wrap(native.lt(this.handle, operand(other, 'lt', 'other'))); }
  le(other: TensorLike): Tensor { return wrap(native.le(this.handle, operand(other, 'le', 'other'))); }
  gt(other: TensorLike): Tensor { return wrap(native.gt(this.handle, operand(other, 'gt', 'other'))); }
  ge(other: TensorLike): Tensor { return wrap(native.ge(this.handle, operand(other, 'ge', 'other'))); }
  neg(): Tensor { return wrap(native.neg(this.handle)); }
  abs(): Tensor { return wrap(native.abs(this.handle)); }
  exp(): Tensor { return wrap(native.exp(this.handle)); }
  log(): Tensor { return wrap(native.log(this.handle)); }
  sqrt(): Tensor { return wrap(native.sqrt(this.handle)); }
  relu(): Tensor { return wrap(native.relu(this.handle)); }
  sigmoid(): Tensor { return wrap(native.sigmoid(this.handle)); }
  clamp(min: number | null, max: number | null = null): Tensor { return wrap(native.clamp(this.handle, min, max)); }
  matmul(other: Tensor): Tensor { return wrap(native.matmul(this.handle, handleOf(other, 'matmul', 'other'))); }

  /** Sum over `dims` (all elements when omitted). */
  sum(dims?: number | number[], keepdim = false): Tensor { return wrap(native.sum(this.handle, dimList(dims), keepdim)); }
  /** Mean over `dims` (all elements when omitted). */
  mean(dims?: number | number[], keepdim = false): Tensor { return wrap(native.mean(this.handle, dimList(dims), keepdim)); }
  /** Maximum over `dims` (all elements when omitted). */
  amax(dims?: number | number[], keepdim = false): Tensor { return wrap(native.amax(this.handle, dimList(dims), keepdim)); }
  /** Index of the maximum along `dim` (of the flattened tensor when omitted); int64. */
  argmax(dim?: number, keepdim = false): Tensor { return wrap(native.argmax(this.handle, dim, keepdim)); }

  reshape(shape: number[]): Tensor { return wrap(native.reshape(this.handle, shape)); }
  permute(dims: number[]): Tensor { return wrap(native.permute(this.handle, dims)); }
  transpose(dim0: number, dim1: number): Tensor { return wrap(native.transpose(this.handle, dim0, dim1)); }
  /** Elements start..end (exclusive; to the end when omitted) with `step` along `dim`; a view. */
  slice(dim: number, start: number, end?: number, step = 1): Tensor {
    return wrap(native.slice(this.handle, dim, start, end, step));
  }
  squeeze(dim?: number): Tensor { return wrap(native.squeeze(this.handle, dim)); }
  unsqueeze(dim: number): Tensor { return wrap(native.unsqueeze(this.handle, dim)); }
  expand(shape: number[]): Tensor { return wrap(native.expand(this.handle, shape)); }
  flatten(startDim = 0, endDim = -1): Tensor { return wrap(native.flatten(this.handle, startDim, endDim)); }
  gather(dim: number, index: Tensor): Tensor { return wrap(native.gather(this.handle, dim, handleOf(index, 'gather', 'index'))); }
  indexSelect(dim: number, index: Tensor): Tensor { return wrap(native.indexSelect(this.handle, dim, handleOf(index, 'indexSelect', 'index'))); }
}

/** @internal One dim or several as a list (undefined: all dims). */
export function dimList(dims: number | number[] | undefined): number[] | undefined {
  return typeof dims === 'number' ? [dims] : dims;
}

setTensorPredicate((value): value is Tensor => value instanceof Tensor);

/** @internal Throws an EngineError unless `tensor` has the given rank. */
export function expectRank(tensor: Tensor, rank: number, what: string): void {
  if (tensor.rank !== rank) throw new EngineError(`${what}: expected a ${rank}-D tensor, got shape [${tensor.shape.join(', ')}]`);
}
