/** Tensor creation and the seeded random generator. */
import { native } from './native.js';
import { handleOf, wrap, type DType, type Tensor } from './tensor.js';
import { EngineError } from '../errors.js';

/** Options of tensor(). */
export interface TensorOptions {
  /** Element type; defaults to the type of the data (number[] -> float32). */
  dtype?: DType;
  /** Track gradients (float tensors only). */
  requiresGrad?: boolean;
}

/**
 * Creates a tensor from values (copied). `shape` defaults to 1-D. Float32Array -> float32,
 * Int32Array -> int32, BigInt64Array -> int64, Uint8Array -> uint8, number[] -> float32 unless `dtype` says otherwise.
 * @throws EngineError if the shape does not match the number of values, or for another typed array.
 */
export function tensor(data: ArrayLike<number> | BigInt64Array | Float32Array | Float64Array | Int32Array | Uint8Array,
  shape?: number[], options: TensorOptions = {}): Tensor {
  let view: ArrayBufferView;
  if (ArrayBuffer.isView(data)) {
    view = data;
  } else if (options.dtype === undefined || options.dtype === 'float32') {
    view = Float32Array.from(data);
  } else {
    view = Float64Array.from(data); // float64, or integers (exact up to 2^53) converted natively to dtype
  }
  const length = (view as unknown as { length: number }).length;
  // Other typed arrays and DataViews are rejected natively with an EngineError.
  return wrap(native.fromTypedArray(view, shape ?? [length], options.dtype, options.requiresGrad ?? false));
}

/** A scalar (0-D) tensor. */
export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  return wrap(native.full([], value, dtype));
}

/** Zeros of the given shape. */
export function zeros(shape: number[], dtype: DType = 'float32'): Tensor {
  return wrap(native.zeros(shape, dtype));
}
/** Ones of the given shape. */
export function ones(shape: number[], dtype: DType = 'float32'): Tensor {
  return wrap(native.ones(shape, dtype));
}
/** A tensor filled with `value`. */
export function full(shape: number[], value: number, dtype: DType = 'float32'): Tensor {
  return wrap(native.full(shape, value, dtype));
}
/** Zeros with the shape and dtype of `like`. */
export function zerosLike(like: Tensor): Tensor {
  return wrap(native.zerosLike(handleOf(like, 'zerosLike', 'like')));
}
/** Ones with the shape and dtype of `like`. */
export function onesLike(like: Tensor): Tensor {
  return wrap(native.onesLike(handleOf(like, 'onesLike', 'like')));
}
/** start, start+step, ... below end (int64 unless dtype says otherwise). arange(n) counts 0..n-1. */
export function arange(start: number, end?: number, step = 1, dtype: DType = 'int64'): Tensor {
  return end === undefined ? wrap(native.arange(0, start, step, dtype)) : wrap(native.arange(start, end, step, dtype));
}
/** Standard normal samples from the global generator (seed it with manualSeed). */
export function randn(shape: number[], dtype: DType = 'float32'): Tensor {
  return wrap(native.randn(shape, dtype));
}
/** Uniform [0, 1) samples from the global generator. */
export function rand(shape: number[], dtype: DType = 'float32'): Tensor {
  return wrap(native.rand(shape, dtype));
}
/** Uniform integers in [low, high) from the global generator (int64). */
export function randint(low: number, high: number, shape: number[], dtype: DType = 'int64'): Tensor {
  return wrap(native.randint(low, high, shape, dtype));
}
/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number): Tensor {
  return wrap(native.randperm(n));
}

/** Seeds libtorch's global CPU generator (same seed, same draws as PyTorch's torch.manual_seed). */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new EngineError(`manualSeed: expected a non-negative integer, got ${seed}`);
  native.manualSeed(seed);
}
/** The global generator's state, for checkpoints that must resume bit-exactly. */
export function getRngState(): Uint8Array {
  return native.getRngState();
}
/** Restores a state from getRngState(). */
export function setRngState(state: Uint8Array): void {
  native.setRngState(state);
}
