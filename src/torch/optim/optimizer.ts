/** Optimiser base: parameter groups, a learning rate that schedules set, and capturable state. */
import { native } from '../native.js';
import { describeArgument, expectTensor, Tensor } from '../tensor.js';
import { CheckpointError, ConfigError, EngineError } from '../../errors.js';

/**
 * Everything an optimiser needs to resume bit-exactly: its tensors by name (e.g. `state.3.momentum_buffer`,
 * index = position in the parameter list, groups concatenated as in torch.optim) and plain-JSON settings.
 */
export interface OptimizerState {
  tensors: Map<string, Tensor>;
  meta: Record<string, number | boolean | string | number[]>;
}

/**
 * Parameters with their own settings (torch.optim's param_groups); a setting left out takes the
 * optimiser's option. E.g. `{ params: biases, weightDecay: 0 }` turns weight decay off for biases.
 */
export interface ParamGroup {
  /** The group's parameters (borrowed from the model). */
  readonly params: Iterable<Tensor>;
  /**
   * The group's learning rate is `optimizer.lr * lrScale` (default 1): schedules set one lr and every
   * group follows it, as torch's schedulers scale each group's initial lr by the same factor.
   */
  readonly lrScale?: number;
}

/** The parameters of an optimiser: one list (a single group), or groups with their own settings. */
export type Params<G extends ParamGroup> = Iterable<Tensor> | readonly G[];

/** A group as the optimiser holds it: the parameters as a list and every setting resolved. */
export type ResolvedGroup<G extends ParamGroup> = { readonly params: readonly Tensor[] } & Readonly<Required<Omit<G, 'params'>>>;

/** @internal Throws ConfigError unless `value` is a finite number >= `min` (and < `below` if given). */
export function checkSetting(what: string, value: number, min: number, below = Infinity): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value >= min && value < below)) {
    const range = below === Infinity ? `>= ${min}` : `in [${min}, ${below})`;
    throw new ConfigError(`${what}: expected a finite number ${range}, got ${String(value)}.`);
  }
}

/** @internal Throws ConfigError unless an optimiser's options argument is an object ({ lr, ... }). */
export function checkOptions(options: unknown, what: string): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options) || options instanceof Tensor) {
    throw new ConfigError(`${what}: the options argument must be an object such as { lr: 0.01 }, got ${describeArgument(options)}.`);
  }
}

/**
 * @internal Splits an optimiser's `params` argument into groups (each group's own settings kept as given).
 * @throws ConfigError for anything but tensors or groups of tensors.
 */
export function splitGroups<G extends ParamGroup>(params: Params<G>, what: string): { params: Tensor[]; settings: Partial<G> }[] {
  if (params === null || typeof params !== 'object' || !(Symbol.iterator in params) || params instanceof Tensor) {
    throw new ConfigError(`${what}: expected a list of parameters or of parameter groups { params, ... }, got ${describeArgument(params)}.`);
  }
  const items: unknown[] = [...(params as Iterable<unknown>)];
  if (items.every((item) => item instanceof Tensor)) return [{ params: items as Tensor[], settings: {} }];
  return items.map((item, index) => {
    if (item === null || typeof item !== 'object' || item instanceof Tensor || !('params' in item)) {
      throw new ConfigError(`${what}: expected a list of parameters or a list of parameter groups { params, ... }, ` +
        `got a mix (item ${index} is ${item instanceof Tensor ? 'a tensor' : typeof item}).`);
    }
    const group = item as G;
    const list = [...group.params];
    list.forEach((param, position) => {
      if (!(param instanceof Tensor)) throw new ConfigError(`${what}: parameter group ${index} item ${position} is not a tensor.`);
    });
    return { params: list, settings: group };
  });
}

/** Base class of SGD and AdamW. */
export abstract class Optimizer {
  /** The parameters updated by step(), every group's in order (borrowed from the model). */
  readonly params: readonly Tensor[];
  /** The groups with their resolved settings. */
  abstract readonly paramGroups: readonly ResolvedGroup<ParamGroup>[];
  /** 'SGD' or 'AdamW', for messages. */
  protected readonly what: string;
  private currentLr = 0;

  /** @throws ConfigError for a negative or non-finite lr or a parameter listed twice. */
  protected constructor(groups: readonly { readonly params: readonly Tensor[] }[], lr: number, what: string) {
    this.what = what;
    this.params = groups.flatMap((group) => group.params);
    // A disposed parameter fails here, naming the optimiser, before any state is made from it.
    this.params.forEach((param, index) => expectTensor(param, what, `parameter ${index}`));
    const seen = new Map<Tensor, number>();
    groups.forEach((group, index) => group.params.forEach((param) => {
      const first = seen.get(param);
      if (first !== undefined) {
        throw new ConfigError(`${what}: a parameter appears twice (in groups ${first} and ${index}); it would be updated twice per step. ` +
          'List each parameter in exactly one group.');
      }
      seen.set(param, index);
    }));
    this.lr = lr;
  }

  /** Current learning rate (each group's is this times its lrScale); schedules assign it before each step. */
  get lr(): number {
    return this.currentLr;
  }
  /** @throws ConfigError unless finite and >= 0. */
  set lr(value: number) {
    checkSetting(`${this.what} lr`, value, 0);
    this.currentLr = value;
  }

  /**
   * Updates every parameter that has a gradient, in place. All or nothing: the parameters and the state are
   * checked before the first parameter changes. (Shapes and dtypes of the state are checked when it is made or
   * loaded, and autograd keeps each gradient to its parameter's; only a failure inside libtorch itself, such as
   * running out of memory, could still stop a step half way.)
   * @throws EngineError if a parameter or a state tensor was disposed (nothing is updated then).
   */
  abstract step(): void;

  /** Drops every parameter's gradient (call before backward()). */
  zeroGrad(): void {
    for (const param of this.params) param.zeroGrad();
  }

  /** The state, for checkpoints. Tensors are the optimiser's own (borrowed): do not dispose them. */
  abstract stateDict(): OptimizerState;

  /**
   * Restores a state from stateDict() (tensors are copied). Nothing changes unless the whole state fits.
   * @throws CheckpointError on a mismatch (kind, parameter count, groups, a tensor's name, shape or dtype).
   */
  abstract loadStateDict(state: OptimizerState): void;

  /** Frees the optimiser's state tensors. */
  abstract dispose(): void;

  /** @internal The settings every state records: kind, parameter count, group sizes, lr. */
  protected baseMeta(kind: string): OptimizerState['meta'] {
    return { kind, paramCount: this.params.length, groupSizes: this.paramGroups.map((group) => group.params.length), lr: this.lr };
  }

  /**
   * @internal Checks a saved state belongs to an optimiser of this kind, size and grouping, and names only
   * expected tensors. Returns its lr. (States written before groups existed have one group.)
   */
  protected checkMeta(state: OptimizerState, kind: string, tensorNames: readonly string[]): number {
    const { meta } = state;
    if (meta.kind !== kind) throw new CheckpointError(`optimizer state is for '${String(meta.kind)}', this optimizer is '${kind}'`);
    if (meta.paramCount !== this.params.length) {
      throw new CheckpointError(`optimizer state has ${String(meta.paramCount)} parameters, this optimizer has ${this.params.length}; ` +
        'the model architecture must be the same as when the checkpoint was written');
    }
    const sizes = this.paramGroups.map((group) => group.params.length);
    const saved = meta.groupSizes ?? [this.params.length];
    if (!Array.isArray(saved) || saved.join() !== sizes.join()) {
      throw new CheckpointError(`optimizer state has parameter groups of sizes [${String(saved)}], this optimizer has [${sizes.join(', ')}]; ` +
        'build the optimizer with the same groups as the run that wrote the checkpoint');
    }
    const lr = meta.lr;
    if (typeof lr !== 'number' || !(Number.isFinite(lr) && lr >= 0)) throw new CheckpointError(`optimizer state has an invalid lr: ${String(lr)}`);
    const expected = new Set(this.params.flatMap((_param, index) => tensorNames.map((name) => `state.${index}.${name}`)));
    const unexpected = [...state.tensors.keys()].filter((name) => !expected.has(name));
    if (unexpected.length > 0) throw new CheckpointError(`optimizer state has unexpected tensors: ${unexpected.join(', ')}`);
    return lr;
  }

  /** @internal The saved tensor `state.<index>.<name>`, checked against its parameter; undefined if absent. */
  protected savedTensor(state: OptimizerState, index: number, name: string): Tensor | undefined {
    const key = `state.${index}.${name}`;
    const saved = state.tensors.get(key);
    if (saved === undefined) return undefined;
    const param = this.params[index] as Tensor;
    if (!saved.isLive) throw new CheckpointError(`optimizer state tensor ${key} was disposed before loadStateDict`);
    if (saved.shape.join() !== param.shape.join() || saved.dtype !== param.dtype) {
      throw new CheckpointError(`optimizer state tensor ${key} is ${saved.dtype} [${saved.shape.join(', ')}], its parameter is ` +
        `${param.dtype} [${param.shape.join(', ')}]; the model architecture must be the same as when the checkpoint was written`);
    }
    return saved;
  }

  /** @internal Throws EngineError, before any update, if a parameter or one of `state` (null = none yet) was disposed. */
  protected checkLive(state: readonly (readonly (Tensor | null)[])[]): void {
    this.params.forEach((param, index) => {
      if (!native.isLive(param.handle)) {
        throw new EngineError(`${this.what}.step: parameter ${index} was disposed; nothing was updated. The optimizer borrows the model's ` +
          'parameters: dispose the model only after the optimizer is done.');
      }
      for (const tensors of state) {
        const tensor = tensors[index];
        if (tensor !== null && tensor !== undefined && !native.isLive(tensor.handle)) {
          throw new EngineError(`${this.what}.step: the state of parameter ${index} was disposed; nothing was updated. The tensors of ` +
            'stateDict() are the optimizer\'s own: do not dispose them.');
        }
      }
    });
  }
}
