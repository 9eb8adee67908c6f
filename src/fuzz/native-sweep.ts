/**
 * The native safety sweep (issue 12): every public op of the TypeScript face (src/torch: tensor methods,
 * math, shape, nn functionals, losses, optimisers, safetensors) called with wrong dtypes, mismatched
 * shapes, out-of-range integers, empty tensors, disposed tensors and non-tensor values (null, numbers,
 * strings, plain objects, functions, a forged handle) in place of each argument, one at a time.
 *
 * Each case must either return or throw a ContrasegError whose message names the op; an error raised by
 * the addon must also list the arguments' dtypes and shapes. A case must leave no tensor handle behind.
 * Run as a script (src/torch/native-safety.test.ts does) it prints one JSON line before and one after
 * every case, so that a native abort is named by the last case that started.
 */
import * as torch from '../torch/index.js';
import * as losses from '../losses/index.js';
import { Tensor } from '../torch/tensor.js';
import { native } from '../torch/native.js';
import { ContrasegError } from '../errors.js';

const { zeros, ones, randn, tensor, scalar } = torch;

/** One op: how to call it, a valid argument list, and the names its errors may carry. */
export interface SweepOp {
  /** Public name, e.g. 'conv2d' or 'Tensor.add'. */
  readonly name: string;
  /** Names an error message may start with or contain (the TS name and the addon's entry point). */
  readonly names: readonly string[];
  /** A valid argument list (fresh tensors). For methods, args[0] is the receiver. */
  readonly args: () => unknown[];
  readonly call: (...args: unknown[]) => unknown;
  /** A method: the receiver (args[0]) is only replaced by other tensors, never by non-tensors. */
  readonly method?: boolean;
}

const image = (): Tensor => randn([2, 3, 6, 6]);
const ids = (values: number[], shape = [values.length]): Tensor => tensor(values, shape, { dtype: 'int64' });
const fn = (name: string, call: (...args: never[]) => unknown, args: () => unknown[], native: string[] = []): SweepOp =>
  ({ name, names: [name, ...native], call: call as (...args: unknown[]) => unknown, args });
const method = (name: string, args: () => unknown[], native: string[] = []): SweepOp => ({
  name: `Tensor.${name}`, names: [name, ...native], method: true, args,
  call: (self, ...rest) => (self as Record<string, (...a: unknown[]) => unknown>)[name]?.(...rest),
});

const getter = (name: string, entry: string): SweepOp => ({
  name: `Tensor.${name}`, names: [name, entry], method: true, args: () => [randn([2, 3]).setRequiresGrad()],
  call: (self) => (self as Record<string, unknown>)[name],
});

const binaryNames = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
const unaryMethods = ['neg', 'abs', 'exp', 'log', 'sqrt', 'relu', 'sigmoid', 'clone', 'detach', 'contiguous', 'toTypedArray', 'toArray'] as const;
const unaryFunctions = ['neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'sigmoid', 'tanh', 'floor', 'ceil', 'round', 'sign', 'square',
  'reciprocal', 'isnan', 'logicalNot', 'relu', 'zerosLike', 'onesLike', 'nonzero'] as const;

/** Every op of the sweep. */
export function sweepOps(): SweepOp[] {
  const t = torch as unknown as Record<string, (...args: never[]) => unknown>;
  return [
    ...binaryNames.map((name) => fn(name, t[name] as never, () => [randn([2, 3]), randn([2, 3])])),
    ...binaryNames.map((name) => method(name, () => [randn([2, 3]), randn([3])])),
    fn('remainder', torch.remainder, () => [randn([2, 3]), 2]),
    fn('logicalAnd', torch.logicalAnd, () => [ones([2], 'bool'), ones([2], 'bool')]),
    fn('logicalOr', torch.logicalOr, () => [ones([2], 'bool'), 0]),
    ...unaryFunctions.map((name) => fn(name, t[name] as never, () => [randn([2, 3])])),
    ...unaryMethods.map((name) => method(name, () => [randn([2, 3])], name === 'toArray' ? ['toTypedArray'] : [])),
    ...([['shape', 'shape'], ['rank', 'shape'], ['size', 'shape'], ['dtype', 'dtype'], ['isLive', 'isLive'], ['requiresGrad', 'requiresGrad'],
      ['grad', 'grad']] as const).map(([name, entry]) => getter(name, entry)),
    method('setRequiresGrad', () => [randn([2]), true]),
    method('zeroGrad', () => [randn([2]).setRequiresGrad()]),
    method('backward', () => [randn([2]).setRequiresGrad().mul(2), randn([2])]),
    method('dispose', () => [randn([2])]),
    method('item', () => [scalar(2)]),
    method('to', () => [randn([2]), 'int64']),
    method('clamp', () => [randn([2]), -1, 1]),
    fn('clamp', torch.clamp, () => [randn([2]), -1, 1]),
    fn('where', torch.where, () => [ones([2, 2], 'bool'), randn([2, 2]), 0]),
    fn('matmul', torch.matmul, () => [randn([2, 3]), randn([3, 4])]),
    method('matmul', () => [randn([2, 3]), randn([3, 4])]),
    fn('bmm', torch.bmm, () => [randn([2, 2, 3]), randn([2, 3, 4])]),
    ...(['sum', 'mean', 'amax', 'amin'] as const).map((name) => fn(name, t[name] as never, () => [randn([2, 3]), 1, true])),
    ...(['sum', 'mean', 'amax'] as const).map((name) => method(name, () => [randn([2, 3]), [0, 1], false])),
    fn('logsumexp', torch.logsumexp, () => [randn([2, 3]), 1]),
    fn('max', torch.max, () => [randn([2, 3]), 1], ['maxDim']),
    fn('min', torch.min, () => [randn([2, 3]), 0], ['minDim']),
    fn('argmax', torch.argmax, () => [randn([2, 3]), 1]),
    method('argmax', () => [randn([2, 3]), 0]),
    fn('reshape', torch.reshape, () => [randn([2, 3]), [3, 2]]),
    method('reshape', () => [randn([2, 3]), [6]]),
    fn('permute', torch.permute, () => [randn([2, 3]), [1, 0]]),
    method('permute', () => [randn([2, 3, 4]), [2, 0, 1]]),
    fn('transpose', torch.transpose, () => [randn([2, 3]), 0, 1]),
    method('transpose', () => [randn([2, 3]), 1, 0]),
    fn('slice', torch.slice, () => [randn([4, 3]), 0, 1, 3, 1]),
    method('slice', () => [randn([4, 3]), 1, 0, 2, 1]),
    fn('cat', torch.cat, () => [[randn([2, 3]), randn([1, 3])], 0]),
    fn('stack', torch.stack, () => [[randn([2, 3]), randn([2, 3])], 1]),
    fn('gather', torch.gather, () => [randn([2, 3]), 1, ids([0, 2, 1, 0], [2, 2])]),
    method('gather', () => [randn([2, 3]), 1, ids([0, 2, 1, 0], [2, 2])]),
    fn('indexSelect', torch.indexSelect, () => [randn([4, 3]), 0, ids([3, 0])]),
    method('indexSelect', () => [randn([4, 3]), 1, ids([2])]),
    fn('squeeze', torch.squeeze, () => [randn([2, 1, 3]), 1]),
    method('squeeze', () => [randn([2, 1]), 1]),
    fn('unsqueeze', torch.unsqueeze, () => [randn([2, 3]), 0]),
    method('unsqueeze', () => [randn([2, 3]), 2]),
    fn('expand', torch.expand, () => [randn([1, 3]), [4, 3]]),
    method('expand', () => [randn([1, 3]), [2, 3]]),
    fn('flatten', torch.flatten, () => [randn([2, 3, 4]), 1, 2]),
    method('flatten', () => [randn([2, 3, 4]), 0, 1]),
    fn('repeat', torch.repeat, () => [randn([2, 3]), [2, 1]]),
    fn('flip', torch.flip, () => [randn([2, 3]), [1]]),
    fn('maskedFill', torch.maskedFill, () => [randn([2, 3]), ones([2, 3], 'bool'), 0]),
    fn('maskedSelect', torch.maskedSelect, () => [randn([2, 3]), ones([3], 'bool')]),
    fn('oneHot', torch.oneHot, () => [ids([0, 2, 1]), 3]),
    fn('conv2d', torch.conv2d, () => [image(), randn([4, 3, 3, 3]), randn([4]), { stride: 1, padding: 1 }]),
    fn('batchNorm', torch.batchNorm, () => [image(), { weight: ones([3]), bias: zeros([3]), runningMean: zeros([3]), runningVar: ones([3]), training: true }]),
    fn('dropout', torch.dropout, () => [randn([2, 3]), 0.5, true]),
    fn('interpolate', torch.interpolate, () => [image(), [9, 7], 'bilinear', false]),
    fn('adaptiveAvgPool2d', torch.adaptiveAvgPool2d, () => [image(), 2]),
    fn('maxPool2d', torch.maxPool2d, () => [image(), 2, { stride: 2 }]),
    fn('logSoftmax', torch.logSoftmax, () => [randn([2, 3]), 1]),
    fn('softmax', torch.softmax, () => [randn([2, 3]), 0]),
    fn('crossEntropy', torch.crossEntropy, () => [randn([2, 3, 4, 4]), torch.randint(0, 3, [2, 4, 4]), { weight: ones([3]), ignoreIndex: 255 }]),
    fn('normalize', torch.normalize, () => [randn([2, 3]), { dim: 1, p: 2 }]),
    fn('bincount', torch.bincount, () => [ids([0, 1, 1]), { minlength: 3, weights: ones([3]) }]),
    fn('toMemoryFormat', torch.toMemoryFormat, () => [image(), 'channels_last'], ['channelsLast']),
    fn('gradNorm', torch.gradNorm, () => [[randn([2]).setRequiresGrad()]]),
    fn('clipGradNorm', torch.clipGradNorm, () => [[randn([2]).setRequiresGrad()], 1]),
    fn('encodeSafetensors', torch.encodeSafetensors, () => [new Map([['w', randn([2])]])]),
    fn('decodeSafetensors', torch.decodeSafetensors, () => [torch.encodeSafetensors(new Map([['w', randn([2])]]))]),
    fn('tensor', torch.tensor, () => [[1, 2, 3, 4], [2, 2]], ['fromTypedArray']),
    fn('zeros', torch.zeros, () => [[2, 3]]),
    fn('full', torch.full, () => [[2], 3]),
    fn('arange', torch.arange, () => [0, 5, 1]),
    fn('randint', torch.randint, () => [0, 5, [3]]),
    fn('randperm', torch.randperm, () => [4]),
    fn('setRngState', torch.setRngState, () => [torch.getRngState()]),
    ...(['withinImageContrastiveLoss', 'batchContrastiveLoss'] as const).map((name) => fn(name, losses[name], () =>
      [randn([2, 4, 3, 3]), torch.randint(0, 3, [2, 3, 3]), randn([2, 4, 3, 3]), torch.randint(0, 3, [2, 3, 3]), {}], ['pixelContrastiveLoss'])),
    fn('crossImageContrastiveLoss', losses.crossImageContrastiveLoss, () =>
      [randn([2, 4, 3, 3]), torch.randint(0, 3, [2, 3, 3]), randn([2, 4, 3, 3]), torch.randint(0, 3, [2, 3, 3]), { partner: [1, 0] }], ['pixelContrastiveLoss']),
    fn('officialContrastiveLoss', losses.officialContrastiveLoss, () =>
      [randn([2, 4, 3, 3]), torch.randint(0, 3, [2, 3, 3]), randn([2, 4, 3, 3]), torch.randint(0, 3, [2, 3, 3]), { mode: 'cross', ignoreLabels: [] }]),
    fn('contrastiveLossFloor', losses.contrastiveLossFloor, () => ['within', torch.randint(0, 3, [2, 3, 3]), torch.randint(0, 3, [2, 3, 3])]),
    fn('SGD', (params: never, options: never) => optimiserStep(new torch.optim.SGD(params, options)), () => [withGradients(), { lr: 0.1, momentum: 0.9 }], ['sgdStep']),
    fn('AdamW', (params: never, options: never) => optimiserStep(new torch.optim.AdamW(params, options)), () => [withGradients(), { lr: 0.1 }], ['adamwStep']),
  ];
}

/** Two parameters with gradients (of a sum of squares). */
function withGradients(): Tensor[] {
  const params = [randn([3]).setRequiresGrad(), randn([2, 2]).setRequiresGrad()];
  params.forEach((param) => param.mul(param).sum().backward());
  return params;
}

/** Two steps (the second uses the state of the first), then the optimiser's state is freed. */
function optimiserStep(optimizer: torch.optim.Optimizer): void {
  try {
    optimizer.step();
    optimizer.step();
  } finally {
    optimizer.dispose();
  }
}

/** A bad value put in place of one argument: its label and a maker (tensors are made fresh). */
type BadValue = readonly [string, () => unknown];

// Made once, outside any scope: a scope would try to dispose them, which (rightly) throws.
const FORGED = new Tensor({} as Tensor['handle']);
const FOREIGN = new Tensor(native.foreignExternalForTesting());
const forged = (): unknown => FORGED;
const foreignHandle = (): unknown => FOREIGN;

/** Values that are not tensors at all. */
export const NON_TENSORS: readonly BadValue[] = [
  ['null', () => null], ['undefined', () => undefined], ['the number 3', () => 3], ['a string', () => 'tensor'],
  ['a plain object', () => ({ handle: 1 })], ['an empty array', () => []], ['a boolean', () => true], ['a function', () => () => 1],
  ['a forged Tensor', forged], ['a Tensor over another addon\'s external', foreignHandle],
];

/** Tensors that are wrong for most ops: disposed, empty, other dtypes, other ranks and shapes. */
export const BAD_TENSORS: readonly BadValue[] = [
  ['a disposed tensor', () => { const gone = randn([2, 3]); gone.dispose(); return gone; }],
  ['an empty [0] tensor', () => zeros([0])], ['an empty [2, 0, 3, 3] tensor', () => zeros([2, 0, 3, 3])],
  ['int64 [2, 3]', () => zeros([2, 3], 'int64')], ['bool [2, 3]', () => zeros([2, 3], 'bool')],
  ['float64 [2, 3]', () => zeros([2, 3], 'float64')], ['uint8 [2, 3]', () => zeros([2, 3], 'uint8')],
  ['int32 [2, 3]', () => zeros([2, 3], 'int32')], ['float32 [3, 7]', () => randn([3, 7])], ['float32 [5]', () => randn([5])],
  ['a 0-D tensor', () => scalar(1)], ['float32 [1, 1, 1, 1, 1]', () => randn([1, 1, 1, 1, 1])],
  ['int64 ids out of range', () => ids([-5, 1000])], ['a non-contiguous [3, 2] view', () => randn([2, 3]).transpose(0, 1)],
];

/** Integers out of range or not integers, for dims, sizes and counts. */
export const BAD_NUMBERS: readonly BadValue[] = [
  ['99', () => 99], ['-99', () => -99], ['2^40', () => 2 ** 40], ['2^70', () => 2 ** 70], ['NaN', () => Number.NaN],
  ['Infinity', () => Number.POSITIVE_INFINITY], ['1.5', () => 1.5], ['-1e308', () => -1e308],
];

/** One generated case: the op, which argument, and the value put there. */
export interface SweepCase {
  readonly id: string;
  readonly op: SweepOp;
  readonly build: () => unknown[];
}

function replaceable(value: unknown): BadValue[] {
  if (value instanceof Tensor) return [...NON_TENSORS, ...BAD_TENSORS];
  if (typeof value === 'number') return [...BAD_NUMBERS, ['null', () => null], ['a string', () => '2']];
  if (Array.isArray(value)) {
    const tensors = value.some((item) => item instanceof Tensor);
    return tensors ? [['an array with null', () => [null]], ['an array with a disposed tensor', () => [(BAD_TENSORS[0] as BadValue)[1]()]],
      ['a number', () => 3]] : [['[2^40, 2^40]', () => [2 ** 40, 2 ** 40]], ['[-1, 3]', () => [-1, 3]], ['[NaN]', () => [Number.NaN]],
      ['[]', () => []], ['[99]', () => [99]], ['a string', () => 'x']];
  }
  return [['null', () => null], ['a number', () => 7]];
}

/** Every case: each argument (and each tensor field of an options object) replaced by each bad value. */
export function sweepCases(ops = sweepOps()): SweepCase[] {
  const cases: SweepCase[] = [];
  for (const op of ops) {
    const template = torch.scope(() => op.args().map(describeTemplate));
    template.forEach((slot, position) => {
      for (const field of slot.fields) {
        const bad = field === null ? slot.values : [...NON_TENSORS, ...BAD_TENSORS];
        for (const [label, make] of bad) {
          if (op.method === true && position === 0 && !BAD_TENSORS.some(([name]) => name === label)) continue;
          const where = field === null ? `argument ${position}` : `argument ${position}.${field}`;
          cases.push({ id: `${op.name}: ${where} = ${label}`, op, build: () => withReplaced(op.args(), position, field, make()) });
        }
      }
    });
  }
  return cases;
}

interface Slot {
  values: BadValue[];
  /** null: the argument itself; a string: a tensor field of an options object. */
  fields: (string | null)[];
}

function describeTemplate(value: unknown): Slot {
  const isOptions = typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Tensor) && !(value instanceof Map) &&
    !ArrayBuffer.isView(value);
  const fields = isOptions ? Object.entries(value as object).filter(([, item]) => item instanceof Tensor).map(([key]) => key) : [];
  return { values: replaceable(value), fields: [null, ...fields] };
}

function withReplaced(args: unknown[], position: number, field: string | null, value: unknown): unknown[] {
  if (field === null) args[position] = value;
  else (args[position] as Record<string, unknown>)[field] = value;
  return args;
}

/** The verdict of one case: undefined when it passed, else what went wrong. */
export function runSweepCase(sweepCase: SweepCase): string | undefined {
  const before = torch.liveTensorCount();
  let problem: string | undefined;
  torch.scope(() => {
    const args = sweepCase.build();
    try {
      sweepCase.op.call(...args);
    } catch (error) {
      problem = judgeError(sweepCase.op, error, args);
    }
  });
  const leaked = torch.liveTensorCount() - before;
  if (problem === undefined && leaked > 0) problem = `${leaked} tensor handle(s) left live`;
  return problem;
}

function judgeError(op: SweepOp, error: unknown, args: unknown[]): string | undefined {
  if (!(error instanceof ContrasegError)) return `untyped error ${error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error)}`;
  const message = error.message.toLowerCase();
  if (!op.names.some((name) => message.includes(name.toLowerCase()))) return `${error.constructor.name} does not name the op (${op.names.join('/')}): ${error.message}`;
  // An error from the addon lists the arguments; each live tensor argument must appear as dtype[shape].
  if (error.message.includes('(arguments: ')) {
    for (const arg of args) {
      if (arg instanceof Tensor && safeLive(arg) && !error.message.includes(`${arg.dtype}[${arg.shape.join(', ')}]`)) {
        return `EngineError does not name the shape of argument ${arg.dtype}[${arg.shape.join(', ')}]: ${error.message}`;
      }
    }
  }
  return undefined;
}

function safeLive(value: Tensor): boolean {
  try {
    return value.isLive;
  } catch {
    return false;
  }
}

/** The public names the sweep must cover: every function exported by src/torch and the losses, and every Tensor method. */
export function publicOpNames(): string[] {
  const functions = [...Object.entries(torch), ...Object.entries(losses)].filter(([, value]) => typeof value === 'function' && value !== Tensor).map(([name]) => name);
  const methods = Object.getOwnPropertyNames(Tensor.prototype).filter((name) => name !== 'constructor').map((name) => `Tensor.${name}`);
  return [...functions, ...methods];
}

// As a script: every case, one JSON line before and after each.
if (process.argv[1]?.endsWith('native-sweep.ts') === true) {
  for (const sweepCase of sweepCases()) {
    process.stdout.write(`${JSON.stringify({ start: sweepCase.id })}\n`);
    const problem = runSweepCase(sweepCase);
    process.stdout.write(`${JSON.stringify({ end: sweepCase.id, problem })}\n`);
  }
  process.stdout.write(`${JSON.stringify({ done: true })}\n`);
}
