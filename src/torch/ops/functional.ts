/** Neural-network functionals over NCHW tensors (torch.nn.functional counterparts). */
import { native } from '../native.js';
import { optionalHandleOf, handleOf, expectTensor, Tensor, wrap } from '../tensor.js';
import { ConfigError, ShapeError } from '../../errors.js';

/** An int or an [h, w] pair. */
export type Pair = number | [number, number];

/** @internal An int as an [h, w] pair. */
export function pair(value: Pair): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

function expectNCHW(input: Tensor, what: string): void {
  if (expectTensor(input, what, 'input').rank !== 4) {
    throw new ShapeError(`${what}: expected an NCHW tensor [B, C, H, W], got shape [${input.shape.join(', ')}]. ` +
      'Add a batch dimension with unsqueeze(0) for a single image.');
  }
}

/** Options of conv2d. */
export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** 2-D convolution. input [B, Cin, H, W], weight [Cout, Cin/groups, kH, kW], bias [Cout] -> [B, Cout, H', W']. */
export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv2dOptions = {}): Tensor {
  expectNCHW(input, 'conv2d');
  expectOptions(options, 'conv2d(input, weight, bias, options)', 'conv2d(x, w, b, { stride: 2, padding: 1 })');
  return wrap(native.conv2d(handleOf(input, 'conv2d', 'input'), handleOf(weight, 'conv2d', 'weight'), optionalHandleOf(bias, 'conv2d', 'bias'), pair(options.stride ?? 1),
    pair(options.padding ?? 0), pair(options.dilation ?? 1), options.groups ?? 1));
}

/** Options of batchNorm. */
export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  /** Batch statistics (true) or running statistics (false). In training the running ones are updated in place. */
  training: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * Batch normalisation over the channel dim of [B, C, ...] (torch.nn.functional.batch_norm).
 * @throws ShapeError in training when a channel has a single value (its variance is undefined).
 */
export function batchNorm(input: Tensor, options: BatchNormOptions): Tensor {
  const shape = expectTensor(input, 'batchNorm', 'input').shape;
  expectOptions(options, 'batchNorm(input, options)', 'batchNorm(x, { training: true })');
  if (options.training && shape.length >= 2 && shape.reduce((product, dim, i) => (i === 1 ? product : product * dim), 1) === 1) {
    throw new ShapeError(`batchNorm: expected more than 1 value per channel when training, got input shape [${shape.join(', ')}]. ` +
      'Use a batch of at least 2 (or larger spatial size), or evaluation mode.');
  }
  return wrap(native.batchNorm(handleOf(input, 'batchNorm', 'input'), optionalHandleOf(options.weight, 'batchNorm', 'weight'), optionalHandleOf(options.bias, 'batchNorm', 'bias'),
    optionalHandleOf(options.runningMean, 'batchNorm', 'runningMean'), optionalHandleOf(options.runningVar, 'batchNorm', 'runningVar'), options.training,
    options.momentum ?? 0.1, options.eps ?? 1e-5));
}

/** max(x, 0). */
export function relu(input: Tensor): Tensor { return expectTensor(input, 'relu', 'input').relu(); }

/** Zeroes each element with probability p in training, scaling the rest by 1/(1-p); identity otherwise. */
export function dropout(input: Tensor, p: number, training: boolean): Tensor {
  return wrap(native.dropout(handleOf(input, 'dropout', 'input'), p, training));
}

/** Resampling modes of interpolate. */
export type InterpolateMode = 'bilinear' | 'nearest';

/** Resizes [B, C, H, W] to [B, C, size[0], size[1]] (torch.nn.functional.interpolate with size=). */
export function interpolate(input: Tensor, size: [number, number], mode: InterpolateMode = 'bilinear', alignCorners = false): Tensor {
  expectNCHW(input, 'interpolate');
  return wrap(native.interpolate(handleOf(input, 'interpolate', 'input'), size, mode, mode === 'bilinear' ? alignCorners : false));
}

/** Adaptive average pooling to outputSize: [B, C, H, W] -> [B, C, oh, ow]. */
export function adaptiveAvgPool2d(input: Tensor, outputSize: Pair): Tensor {
  return wrap(native.adaptiveAvgPool2d(handleOf(input, 'adaptiveAvgPool2d', 'input'), pair(outputSize)));
}

/** Options of maxPool2d. stride defaults to the kernel size. */
export interface MaxPool2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
}

/** 2-D max pooling. */
export function maxPool2d(input: Tensor, kernel: Pair, options: MaxPool2dOptions = {}): Tensor {
  expectNCHW(input, 'maxPool2d');
  expectOptions(options, 'maxPool2d(input, kernel, options)', 'maxPool2d(x, 3, { stride: 2, padding: 1 })');
  return wrap(native.maxPool2d(handleOf(input, 'maxPool2d', 'input'), pair(kernel), pair(options.stride ?? kernel), pair(options.padding ?? 0),
    pair(options.dilation ?? 1), options.ceilMode ?? false));
}

/** log(softmax(x)) along dim, computed stably. */
export function logSoftmax(input: Tensor, dim: number): Tensor { return wrap(native.logSoftmax(handleOf(input, 'logSoftmax', 'input'), dim)); }
/** softmax along dim. */
export function softmax(input: Tensor, dim: number): Tensor { return wrap(native.softmax(handleOf(input, 'softmax', 'input'), dim)); }

/** Options of crossEntropy. */
export interface CrossEntropyOptions {
  /** Target value that contributes neither loss nor gradient. Default -100 (PyTorch's). */
  ignoreIndex?: number;
  /** Per-class weights [C] (float32). */
  weight?: Tensor | null;
  /** 'mean' (weighted mean over non-ignored targets), 'sum' or 'none'. */
  reduction?: 'mean' | 'sum' | 'none';
  labelSmoothing?: number;
}

/**
 * Pixel-wise (or plain) cross-entropy. logits [B, C, ...] float32, target [B, ...] int64 class ids.
 * @throws ShapeError if target is not int64.
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  expectTensor(logits, 'crossEntropy', 'logits');
  expectOptions(options, 'crossEntropy(logits, target, options)', 'crossEntropy(logits, target, { ignoreIndex: 255 })');
  if (expectTensor(target, 'crossEntropy', 'target').dtype !== 'int64') {
    throw new ShapeError(`crossEntropy: target must be int64 class ids, got ${target.dtype}; convert with target.to('int64')`);
  }
  return wrap(native.crossEntropy(handleOf(logits, 'crossEntropy', 'logits'), handleOf(target, 'crossEntropy', 'target'), optionalHandleOf(options.weight, 'crossEntropy', 'weight'),
    options.ignoreIndex ?? -100, options.reduction ?? 'mean', options.labelSmoothing ?? 0));
}

/**
 * @internal Throws ConfigError unless `options` is an options object: PyTorch passes these settings
 * positionally (F.normalize(x, p, dim), torch.bincount(x, weights, minlength)), so a number or a tensor
 * here is a positional call that would mean something else.
 */
function expectOptions(options: unknown, call: string, example: string): void {
  if (options === null || typeof options !== 'object' || options instanceof Tensor) {
    throw new ConfigError(`${call}: the second argument is an options object, e.g. ${example}; got ` +
      `${options instanceof Tensor ? 'a tensor' : String(options)}. PyTorch's positional order does not apply here.`);
  }
}

/** Options of normalize (torch.nn.functional.normalize's p, dim and eps, with its defaults). */
export interface NormalizeOptions {
  /** Dimension to normalise over. Default 1 (channels of NCHW). */
  dim?: number;
  /** Order of the norm. Default 2. */
  p?: number;
  /** Lower bound of the norm, so a zero vector stays zero. Default 1e-12. */
  eps?: number;
}

/**
 * x / max(||x||_p, eps) along `dim` (torch.nn.functional.normalize); p = 2 gives unit L2 norm. Same shape and
 * dtype as the input. E.g. `normalize(embeddings, { dim: 1 })`.
 * @throws ConfigError if `options` is not an options object (a PyTorch-style positional call).
 */
export function normalize(input: Tensor, options: NormalizeOptions = {}): Tensor {
  expectOptions(options, 'normalize(input, options)', 'normalize(x, { dim: 1, p: 2 })');
  return wrap(native.normalize(handleOf(input, 'normalize', 'input'), options.p ?? 2, options.dim ?? 1, options.eps ?? 1e-12));
}

/** Options of bincount (torch.bincount's weights and minlength). */
export interface BincountOptions {
  /** Per-element weights [N] (float32 or float64): the result sums them instead of counting. Default none. */
  weights?: Tensor | null;
  /** At least this many bins. Default 0. */
  minlength?: number;
}

/**
 * Counts of each non-negative integer in a 1-D integer tensor [N] -> [max(max + 1, minlength)]: int64 counts,
 * or the weights' dtype with `weights`. E.g. `bincount(ids, { minlength: numClasses })`.
 * @throws ConfigError if `options` is not an options object; EngineError for negative or non-integer input.
 */
export function bincount(input: Tensor, options: BincountOptions = {}): Tensor {
  expectOptions(options, 'bincount(input, options)', 'bincount(ids, { minlength: 10, weights })');
  return wrap(native.bincount(handleOf(input, 'bincount', 'input'), optionalHandleOf(options.weights, 'bincount', 'weights'), options.minlength ?? 0));
}

/** A copy of a 4-D tensor laid out channels-last (NHWC in memory; the shape stays NCHW), or back to contiguous. */
export function toMemoryFormat(input: Tensor, format: 'contiguous' | 'channels_last'): Tensor {
  expectNCHW(input, 'toMemoryFormat');
  return wrap(native.channelsLast(handleOf(input, 'toMemoryFormat', 'input'), format === 'channels_last'));
}
