/** Reductions and shape manipulation (functional forms). */
import { native } from '../native.js';
import { handlesOf, handleOf, expectTensor, dimList, wrap, type Tensor } from '../tensor.js';

/** Sum over dims (all when omitted). */
export function sum(a: Tensor, dims?: number | number[], keepdim = false): Tensor { return expectTensor(a, 'sum', 'a').sum(dims, keepdim); }
/** Mean over dims (all when omitted). */
export function mean(a: Tensor, dims?: number | number[], keepdim = false): Tensor { return expectTensor(a, 'mean', 'a').mean(dims, keepdim); }
/** Maximum value over dims (all when omitted). */
export function amax(a: Tensor, dims?: number | number[], keepdim = false): Tensor { return expectTensor(a, 'amax', 'a').amax(dims, keepdim); }
/** Minimum value over dims (all when omitted). */
export function amin(a: Tensor, dims?: number | number[], keepdim = false): Tensor {
  return wrap(native.amin(handleOf(a, 'amin', 'a'), dimList(dims), keepdim));
}
/** Maximum along one dim: values and int64 indices (torch.max(x, dim)). */
export function max(a: Tensor, dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
  const [values, indices] = native.maxDim(handleOf(a, 'max', 'a'), dim, keepdim);
  return { values: wrap(values), indices: wrap(indices) };
}
/** Minimum along one dim: values and int64 indices. */
export function min(a: Tensor, dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
  const [values, indices] = native.minDim(handleOf(a, 'min', 'a'), dim, keepdim);
  return { values: wrap(values), indices: wrap(indices) };
}
/** Index of the maximum along dim (flattened when omitted). */
export function argmax(a: Tensor, dim?: number, keepdim = false): Tensor { return expectTensor(a, 'argmax', 'a').argmax(dim, keepdim); }
/** log(sum(exp(a))) over dims, computed stably. */
export function logsumexp(a: Tensor, dims: number | number[], keepdim = false): Tensor {
  return wrap(native.logsumexp(handleOf(a, 'logsumexp', 'a'), dimList(dims) ?? [], keepdim));
}

export function reshape(a: Tensor, shape: number[]): Tensor { return expectTensor(a, 'reshape', 'a').reshape(shape); }
export function permute(a: Tensor, dims: number[]): Tensor { return expectTensor(a, 'permute', 'a').permute(dims); }
export function transpose(a: Tensor, dim0: number, dim1: number): Tensor { return expectTensor(a, 'transpose', 'a').transpose(dim0, dim1); }
/** Elements start..end (exclusive) with step along dim; a view. */
export function slice(a: Tensor, dim: number, start: number, end?: number, step = 1): Tensor { return expectTensor(a, 'slice', 'a').slice(dim, start, end, step); }
/** Concatenates along an existing dim. */
export function cat(tensors: Tensor[], dim = 0): Tensor { return wrap(native.cat(handlesOf(tensors, 'cat', 'tensors'), dim)); }
/** Stacks along a new dim. */
export function stack(tensors: Tensor[], dim = 0): Tensor { return wrap(native.stack(handlesOf(tensors, 'stack', 'tensors'), dim)); }
/** out[i][j] = a[index[i][j]][j] for dim 0, etc. (torch.gather); index is int64. */
export function gather(a: Tensor, dim: number, index: Tensor): Tensor { return expectTensor(a, 'gather', 'a').gather(dim, index); }
/** Selects entries of dim by an int64 index vector. */
export function indexSelect(a: Tensor, dim: number, index: Tensor): Tensor { return expectTensor(a, 'indexSelect', 'a').indexSelect(dim, index); }
export function squeeze(a: Tensor, dim?: number): Tensor { return expectTensor(a, 'squeeze', 'a').squeeze(dim); }
export function unsqueeze(a: Tensor, dim: number): Tensor { return expectTensor(a, 'unsqueeze', 'a').unsqueeze(dim); }
export function expand(a: Tensor, shape: number[]): Tensor { return expectTensor(a, 'expand', 'a').expand(shape); }
export function flatten(a: Tensor, startDim = 0, endDim = -1): Tensor { return expectTensor(a, 'flatten', 'a').flatten(startDim, endDim); }
export function repeat(a: Tensor, repeats: number[]): Tensor { return wrap(native.repeat(handleOf(a, 'repeat', 'a'), repeats)); }
export function flip(a: Tensor, dims: number[]): Tensor { return wrap(native.flip(handleOf(a, 'flip', 'a'), dims)); }
/** Replaces entries where mask is true with value. */
export function maskedFill(a: Tensor, mask: Tensor, value: number): Tensor { return wrap(native.maskedFill(handleOf(a, 'maskedFill', 'a'), handleOf(mask, 'maskedFill', 'mask'), value)); }
/** 1-D tensor of the entries where mask is true. */
export function maskedSelect(a: Tensor, mask: Tensor): Tensor { return wrap(native.maskedSelect(handleOf(a, 'maskedSelect', 'a'), handleOf(mask, 'maskedSelect', 'mask'))); }
/** [count, rank] int64 coordinates of non-zero entries. */
export function nonzero(a: Tensor): Tensor { return wrap(native.nonzero(handleOf(a, 'nonzero', 'a'))); }
/** One-hot encoding of an int64 tensor: [...] -> [..., numClasses] int64. */
export function oneHot(a: Tensor, numClasses: number): Tensor { return wrap(native.oneHot(handleOf(a, 'oneHot', 'a'), numClasses)); }
