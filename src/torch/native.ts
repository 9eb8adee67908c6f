/**
 * Loads the libtorch addon (native/) once. Everything else in src/torch goes through `native`.
 * Layout is NCHW (libtorch's) everywhere in contraseg: images [B, C, H, W], masks [B, H, W].
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { EngineError } from '../errors.js';

/** Opaque reference to a native at::Tensor. */
export type Handle = { readonly __handle: unique symbol };
/** A tensor handle or a JS number, for elementwise operands. */
export type Operand = Handle | number;
type Dims = number[] | undefined;

/** The addon's entry points (see native/src/*.cc for each contract). */
export interface NativeAddon {
  setErrorClass(ctor: new (message: string) => Error): void;
  dispose(h: Handle): void;
  isLive(h: Handle): boolean;
  liveTensorCount(): number;
  fromTypedArray(data: ArrayBufferView, shape: number[], dtype: string | undefined, requiresGrad: boolean): Handle;
  zeros(shape: number[], dtype?: string): Handle;
  ones(shape: number[], dtype?: string): Handle;
  full(shape: number[], value: number, dtype?: string): Handle;
  arange(start: number, end: number, step: number, dtype?: string): Handle;
  randn(shape: number[], dtype?: string): Handle;
  rand(shape: number[], dtype?: string): Handle;
  randint(low: number, high: number, shape: number[], dtype?: string): Handle;
  randperm(n: number): Handle;
  manualSeed(seed: number): void;
  getRngState(): Uint8Array;
  setRngState(state: Uint8Array): void;
  shape(h: Handle): number[];
  dtype(h: Handle): string;
  toTypedArray(h: Handle): Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
  /** The values' bytes (row-major, bool as uint8) into target at byteOffset; returns the byte count. */
  copyBytesInto(h: Handle, target: Uint8Array, byteOffset: number): number;
  item(h: Handle): number;
  to(h: Handle, dtype: string): Handle;
  clone(h: Handle): Handle;
  detach(h: Handle): Handle;
  contiguous(h: Handle): Handle;
  channelsLast(h: Handle, on: boolean): Handle;
  copyInto(dst: Handle, src: Handle): void;
  setMemoryFormat(h: Handle, channelsLast: boolean): void;
  addInPlace(dst: Handle, other: Operand): void;
  requiresGrad(h: Handle): boolean;
  setRequiresGrad(h: Handle, on: boolean): void;
  grad(h: Handle): Handle | null;
  zeroGrad(h: Handle): void;
  backward(h: Handle, grad?: Handle): void;
  setGradEnabled(on: boolean): boolean;
  isGradEnabled(): boolean;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  hasMkldnn(): boolean;
  tuneAllocator(mmapThreshold: number, trimThreshold: number): { mmapThreshold: number | null; trimThreshold: number | null };
  mallocMapsForTesting(bytes: number): boolean | null;
  mallocStats(): { inUse: number; mapped: number; heap: number; free: number } | null;
  isGradOf(h: Handle, grad: Handle): boolean;
  externalMemory(): { tensors: number; isolate: number };
  foreignExternalForTesting(): Handle;
  // math.cc
  add(a: Handle, b: Operand): Handle; sub(a: Handle, b: Operand): Handle; mul(a: Handle, b: Operand): Handle;
  div(a: Handle, b: Operand): Handle; pow(a: Handle, b: Operand): Handle; remainder(a: Handle, b: Operand): Handle;
  maximum(a: Handle, b: Operand): Handle; minimum(a: Handle, b: Operand): Handle;
  eq(a: Handle, b: Operand): Handle; ne(a: Handle, b: Operand): Handle; lt(a: Handle, b: Operand): Handle;
  le(a: Handle, b: Operand): Handle; gt(a: Handle, b: Operand): Handle; ge(a: Handle, b: Operand): Handle;
  logicalAnd(a: Handle, b: Operand): Handle; logicalOr(a: Handle, b: Operand): Handle;
  neg(a: Handle): Handle; abs(a: Handle): Handle; exp(a: Handle): Handle; log(a: Handle): Handle;
  sqrt(a: Handle): Handle; rsqrt(a: Handle): Handle; sigmoid(a: Handle): Handle; tanh(a: Handle): Handle;
  floor(a: Handle): Handle; ceil(a: Handle): Handle; round(a: Handle): Handle; sign(a: Handle): Handle;
  square(a: Handle): Handle; reciprocal(a: Handle): Handle; logicalNot(a: Handle): Handle; isnan(a: Handle): Handle;
  relu(a: Handle): Handle; zerosLike(a: Handle): Handle; onesLike(a: Handle): Handle;
  clamp(a: Handle, min: number | null, max: number | null): Handle;
  where(condition: Handle, a: Operand, b: Operand): Handle;
  matmul(a: Handle, b: Handle): Handle; bmm(a: Handle, b: Handle): Handle;
  // shape.cc
  sum(a: Handle, dims: Dims, keepdim: boolean): Handle; mean(a: Handle, dims: Dims, keepdim: boolean): Handle;
  amax(a: Handle, dims: Dims, keepdim: boolean): Handle; amin(a: Handle, dims: Dims, keepdim: boolean): Handle;
  logsumexp(a: Handle, dims: number[], keepdim: boolean): Handle;
  maxDim(a: Handle, dim: number, keepdim: boolean): [Handle, Handle];
  minDim(a: Handle, dim: number, keepdim: boolean): [Handle, Handle];
  argmax(a: Handle, dim: number | undefined, keepdim: boolean): Handle;
  reshape(a: Handle, shape: number[]): Handle; permute(a: Handle, dims: number[]): Handle;
  transpose(a: Handle, dim0: number, dim1: number): Handle;
  slice(a: Handle, dim: number, start: number, end: number | undefined, step: number): Handle;
  cat(list: Handle[], dim: number): Handle; stack(list: Handle[], dim: number): Handle;
  gather(a: Handle, dim: number, index: Handle): Handle; indexSelect(a: Handle, dim: number, index: Handle): Handle;
  squeeze(a: Handle, dim?: number): Handle; unsqueeze(a: Handle, dim: number): Handle;
  expand(a: Handle, shape: number[]): Handle; flatten(a: Handle, startDim: number, endDim: number): Handle;
  repeat(a: Handle, repeats: number[]): Handle; flip(a: Handle, dims: number[]): Handle;
  maskedFill(a: Handle, mask: Handle, value: number): Handle; maskedSelect(a: Handle, mask: Handle): Handle;
  nonzero(a: Handle): Handle; oneHot(a: Handle, numClasses: number): Handle;
  // nn.cc
  conv2d(x: Handle, weight: Handle, bias: Handle | null, stride: number[], padding: number[], dilation: number[], groups: number): Handle;
  batchNorm(x: Handle, weight: Handle | null, bias: Handle | null, runningMean: Handle | null, runningVar: Handle | null,
    training: boolean, momentum: number, eps: number): Handle;
  dropout(x: Handle, p: number, training: boolean): Handle;
  interpolate(x: Handle, size: number[], mode: string, alignCorners: boolean): Handle;
  adaptiveAvgPool2d(x: Handle, size: number[]): Handle;
  maxPool2d(x: Handle, kernel: number[], stride: number[], padding: number[], dilation: number[], ceilMode: boolean): Handle;
  logSoftmax(x: Handle, dim: number): Handle; softmax(x: Handle, dim: number): Handle;
  crossEntropy(logits: Handle, target: Handle, weight: Handle | null, ignoreIndex: number, reduction: string, labelSmoothing: number): Handle;
  normalize(x: Handle, p: number, dim: number, eps: number): Handle;
  bincount(x: Handle, weights: Handle | null, minlength: number): Handle;
  // optim.cc
  sgdStep(params: Handle[], buffers: (Handle | null)[], lr: number, momentum: number, dampening: number,
    weightDecay: number, nesterov: boolean): (Handle | undefined)[];
  adamwStep(params: Handle[], expAvg: Handle[], expAvgSq: Handle[], steps: number[], lr: number, beta1: number,
    beta2: number, eps: number, weightDecay: number): void;
  [extension: string]: unknown;
}

/**
 * CONTRASEG_NATIVE=/path/to/contraseg_native.node loads that addon instead of native/build/Release's: the
 * sanitizer build (`bash scripts/build-native.sh --sanitize` -> native/build/Sanitize/), run with the ASan
 * runtime preloaded (native/README.md, "Sanitizers").
 */
export const NATIVE_ENV = 'CONTRASEG_NATIVE';

function findAddon(): string {
  const override = process.env[NATIVE_ENV];
  if (override !== undefined && override !== '') {
    if (!existsSync(override)) {
      throw new EngineError(`${NATIVE_ENV}=${override}: no such file; expected the path of a built contraseg_native.node ` +
        '(e.g. native/build/Sanitize/contraseg_native.node from `bash scripts/build-native.sh --sanitize`), or unset it (src/torch/native.ts).');
    }
    return resolve(override);
  }
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    const candidate = join(dir, 'native', 'build', 'Release', 'contraseg_native.node');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new EngineError('the native addon is not built (native/build/Release/contraseg_native.node is missing). ' +
    'Run `npm run setup` (or `npm run build:native`) in the contraseg package directory.');
}

/**
 * glibc malloc thresholds contraseg set at load, as mallopt accepted them (null: not set, either because
 * CONTRASEG_MALLOC_TUNING=0 or because mallopt refused the value).
 */
export interface AllocatorTuning {
  /** Whether tuning was requested (CONTRASEG_MALLOC_TUNING is not '0'). */
  readonly requested: boolean;
  /** Blocks below this many bytes come from the heap, larger ones from their own mmap. */
  readonly mmapThreshold: number | null;
  /** Free memory at the top of the heap beyond this many bytes is returned to the kernel. */
  readonly trimThreshold: number | null;
}

/**
 * M_MMAP_THRESHOLD: blocks below 32 MiB stay on the heap. 32 MiB is the largest value every 64-bit glibc
 * accepts (releases that check cap it at HEAP_MAX_SIZE / 2; 2.36 takes 64 MiB too, with no gain on the
 * engine benchmark: 7440 vs 7424 faults per 20 steps, bench/malloc-tuning.ts).
 */
export const MMAP_THRESHOLD = 32 << 20;
/** M_TRIM_THRESHOLD: return heap memory to the kernel only past 1 GiB of free top. */
export const TRIM_THRESHOLD = 1 << 30;

function tuneAllocator(addon: NativeAddon): AllocatorTuning {
  if (process.env.CONTRASEG_MALLOC_TUNING === '0') return { requested: false, mmapThreshold: null, trimThreshold: null };
  const applied = addon.tuneAllocator(MMAP_THRESHOLD, TRIM_THRESHOLD);
  if (applied.mmapThreshold === null || applied.trimThreshold === null) {
    process.emitWarning(`contraseg: malloc tuning was not fully applied (mallopt accepted mmap threshold ` +
      `${applied.mmapThreshold}, trim threshold ${applied.trimThreshold}); training steps may page-fault more. ` +
      'Set CONTRASEG_MALLOC_TUNING=0 to skip it.', { code: 'CONTRASEG_MALLOC_TUNING' });
  }
  return { requested: true, ...applied };
}

function loadAddon(): [NativeAddon, AllocatorTuning] {
  // OpenBLAS must not start its own threads under libtorch's: measured 250 ms -> 1.8 s steps otherwise.
  // It reads the variable when the library loads, so it is set before the addon is required.
  process.env.OPENBLAS_NUM_THREADS ??= '1';
  const require = createRequire(import.meta.url);
  const addon = require(findAddon()) as NativeAddon;
  addon.setErrorClass(EngineError);
  // libtorch defaults to one thread here; use every core unless the user says otherwise.
  const requested = Number(process.env.CONTRASEG_NUM_THREADS ?? availableParallelism());
  addon.setNumThreads(Number.isInteger(requested) && requested > 0 ? requested : availableParallelism());
  // glibc returns freed activation buffers to the kernel and page-faults them back in every step. Keep
  // buffers below 32 MiB on the heap and trim only past 1 GiB of free top: 7.6k minor faults per 20
  // training steps instead of 193k (bench/malloc-tuning.ts).
  return [addon, tuneAllocator(addon)];
}

const [loaded, tuning] = loadAddon();
/** The loaded addon. */
export const native: NativeAddon = loaded;
/** The malloc tuning in force in this process (set when the addon loaded). */
export const allocatorTuning: AllocatorTuning = tuning;
