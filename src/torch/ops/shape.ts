/** Reductions and shape manipulation (functional forms). */
import { native } from '../native.js';
import { dimList, wrap, type Tensor } from '../tensor.js';

/** Sum over dims (all when omitted). */
export function sum(a: Tensor, dims?: number | number[], keepdim = false): Tensor { return a.sum(dims, keepdim); }
/** Mean over dims (all when omitted). */
export function mean(a: Tensor, dims?: number | number[], keepdim = false): Tensor { return a.mean(dims, keepdim); }
/** Maximum value over dims (all when omitted). */
export function amax(a: Tensor, dims?: number | number[], keepdim = false): Tensor { return a.amax(dims, keepdim); }
/** Minimum value over dims (all when omitted). */
export function amin(a: Tensor, dims?: number | number[], keepdim = false): Tensor {
  return wrap(native.amin(a.handle, dimList(dims), keepdim));
}
/** Maximum along one dim: values and int64 indices (torch.max(x, dim)). */
export function max(a: Tensor, dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
  const [values, indices] = native.maxDim(a.handle, dim, keepdim);
  return { values: wrap(values), indices: wrap(indices) };
}
/** Minimum along one dim: values and int64 indices. */
export function min(a: Tensor, dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
  const [values, indices] = native.minDim(a.handle, dim, keepdim);
  return { values: wrap(values), indices: wrap(indices) };
}
/** Index of the maximum along dim (flattened when omitted). */
export function argmax(a: Tensor, dim?: number, keepdim = false): Tensor { return a.argmax(dim, keepdim); }
/** log(sum(exp(a))) over dims, computed stably. */
export function logsumexp(a: Tensor, dims: number | number[], keepdim = false): Tensor {
  return wrap(native.logsumexp(a.handle, dimList(dims) ?? [], keepdim));
}

export function reshape(a: Tensor, shape: number[]): Tensor { return a.reshape(shape); }
export function permute(a: Tensor, dims: number[]): Tensor { return a.permute(dims); }
export function transpose(a: Tensor, dim0: number, dim1: number): Tensor { return a.transpose(dim0, dim1); }
/** Elements start..end (exclusive) with step along dim; a view. */
export function slice(a: Tensor, dim: number, start: number, end?: number, step = 1): Tensor { return a.slice(dim, start, end, step); }
/** Concatenates along an existing dim. */
export function cat(tensors: Tensor[], dim = 0): Tensor { return wrap(native.cat(tensors.map((t) => t.handle), dim)); }
/** Stacks along a new dim. */
export function stack(tensors: Tensor[], dim = 0): Tensor { return wrap(native.stack(tensors.map((t) => t.handle), dim)); }
/** out[i][j] = a[index[i][j]][j] for dim 0, etc. (torch.gather); index is int64. */
export function gather(a: Tensor, dim: number, index: Tensor): Tensor { return a.gather(dim, index); }
/** Selects entries of dim by an int64 index vector. */
export function indexSelect(a: Tensor, dim: number, index: Tensor): Tensor { return a.indexSelect(dim, index); }
export function squeeze(a: Tensor, dim?: number): Tensor { return a.squeeze(dim); }
export function unsqueeze(a: Tensor, dim: number): Tensor { return a.unsqueeze(dim); }
export function expand(a: Tensor, shape: number[]): Tensor { return a.expand(shape); }
export function flatten(a: Tensor, startDim = 0, endDim = -1): Tensor { return a.flatten(startDim, endDim); }
export function repeat(a: Tensor, repeats: number[]): Tensor { return wrap(native.repeat(a.handle, repeats)); }
export function flip(a: Tensor, dims: number[]): Tensor { return wrap(native.flip(a.handle, dims)); }
/** Replaces entries where mask is true with value. */
export function maskedFill(a: Tensor, mask: Tensor, value: number): Tensor { return wrap(native.maskedFill(a.handle, mask.handle, value)); }
/** 1-D tensor of the entries where mask is true. */
export function maskedSelect(a: Tensor, mask: Tensor): Tensor { return wrap(native.maskedSelect(a.handle, mask.handle)); }
/** [count, rank] int64 coordinates of non-zero entries. */
export function nonzero(a: Tensor): Tensor { return wrap(native.nonzero(a.handle)); }
/** One-hot encoding of an int64 tensor: [...] -> [..., numClasses] int64. */
export function oneHot(a: Tensor, numClasses: number): Tensor { return wrap(native.oneHot(a.handle, numClasses)); }
