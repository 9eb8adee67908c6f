/**
 * Module: a tree of named parameters, buffers and child modules, in registration order (the order
 * PyTorch uses, so state-dict keys match torchvision's). Exporters walk the tree through `children()`.
 */
import { keep, noGrad } from '../torch/scope.js';
import { native } from '../torch/native.js';
import type { Tensor } from '../torch/tensor.js';
import { StateDictError } from '../errors.js';

/** Memory layouts of 4-D tensors: shapes stay NCHW either way. */
export type MemoryFormat = 'contiguous' | 'channels_last';

/** Name -> tensor, as produced by stateDict() and read from safetensors files. */
export type StateDict = Map<string, Tensor>;

/** Options of loadStateDict. */
export interface LoadStateDictOptions {
  /** When true (default) missing and unexpected keys are errors; shape mismatches always are. */
  strict?: boolean;
}

/** What loadStateDict did when not strict. */
export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
}

/** Base class of every layer and network. Subclasses register what they own in their constructor. */
export abstract class Module {
  /** Training mode (BatchNorm uses batch statistics, Dropout drops). */
  training = true;
  private readonly ownParameters = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly ownChildren = new Map<string, Module>();

  /** Registers a trainable tensor (kept out of scopes, requiresGrad set). Returns it. */
  protected registerParameter(name: string, parameter: Tensor): Tensor {
    this.checkName(name);
    keep(parameter);
    if (!parameter.requiresGrad) parameter.setRequiresGrad(true);
    this.ownParameters.set(name, parameter);
    return parameter;
  }

  /** Registers a non-trainable state tensor (running statistics, counters). Returns it. */
  protected registerBuffer(name: string, buffer: Tensor): Tensor {
    this.checkName(name);
    keep(buffer);
    this.ownBuffers.set(name, buffer);
    return buffer;
  }

  /** Registers a child module under `name`. Returns it. */
  protected registerModule<M extends Module>(name: string, child: M): M {
    this.checkName(name);
    this.ownChildren.set(name, child);
    return child;
  }

  private checkName(name: string): void {
    if (name.length === 0 || name.includes('.')) throw new TypeError(`invalid member name '${name}': non-empty, no dots`);
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.ownChildren.has(name)) {
      throw new TypeError(`member '${name}' is registered twice in ${this.constructor.name}`);
    }
  }

  /** Direct children, in registration order. */
  children(): [string, Module][] {
    return [...this.ownChildren];
  }

  /** This module and every descendant, depth first, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.ownChildren) out.push(...child.namedModules(join(prefix, name)));
    return out;
  }

  /** The tensors `own` picks from each module of the tree, own ones first, then each child's, with dotted names. */
  private collect(prefix: string, own: (module: Module) => Iterable<[string, Tensor]>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, tensor] of own(this)) out.push([join(prefix, name), tensor]);
    for (const [name, child] of this.ownChildren) out.push(...child.collect(join(prefix, name), own));
    return out;
  }

  /** Every parameter with its dotted name (borrowed: do not dispose). */
  namedParameters(prefix = ''): [string, Tensor][] {
    return this.collect(prefix, (module) => module.ownParameters);
  }

  /** Every parameter (borrowed). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, parameter]) => parameter);
  }

  /** Every buffer with its dotted name (borrowed). */
  namedBuffers(prefix = ''): [string, Tensor][] {
    return this.collect(prefix, (module) => module.ownBuffers);
  }

  /** Every buffer (borrowed). */
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, buffer]) => buffer);
  }

  /** Sets training mode on this module and every descendant. Returns this. */
  train(mode = true): this {
    for (const [, module] of this.namedModules()) module.training = mode;
    return this;
  }

  /** Evaluation mode (train(false)). Returns this. */
  eval(): this {
    return this.train(false);
  }

  /**
   * Re-lays every 4-D parameter and buffer in place: 'channels_last' stores NHWC in memory (shapes stay
   * NCHW), which lets oneDNN convolutions skip layout reorders when inputs are channels-last too.
   * Returns this.
   */
  setMemoryFormat(format: MemoryFormat): this {
    for (const [, tensor] of this.stateDict()) native.setMemoryFormat(tensor.handle, format === 'channels_last');
    return this;
  }

  /** Drops the gradients of every parameter. */
  zeroGrad(): void {
    for (const parameter of this.parameters()) parameter.zeroGrad();
  }

  /**
   * Parameters and buffers by dotted name, in PyTorch's order (each module's parameters, then its
   * buffers, then its children). The tensors are the module's own (borrowed): do not dispose them.
   */
  stateDict(prefix = ''): StateDict {
    return new Map(this.collect(prefix, (module) => [...module.ownParameters, ...module.ownBuffers]));
  }

  /**
   * Copies values from `state` into this module's tensors (in place; dtypes converted).
   * @throws StateDictError listing every missing, unexpected and shape-mismatched key (missing and
   * unexpected keys are tolerated with strict: false, shape mismatches never are).
   */
  loadStateDict(state: StateDict | Record<string, Tensor>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const source = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((key) => !source.has(key));
    const unexpected = [...source.keys()].filter((key) => !own.has(key));
    const mismatched: string[] = [];
    for (const [key, target] of own) {
      const value = source.get(key);
      if (value !== undefined && !sameShape(value.shape, target.shape)) {
        mismatched.push(`${key}: module has [${target.shape.join(', ')}], state dict has [${value.shape.join(', ')}]`);
      }
    }
    if (mismatched.length > 0 || (strict && (missing.length > 0 || unexpected.length > 0))) {
      throw new StateDictError(missing, unexpected, mismatched);
    }
    noGrad(() => {
      for (const [key, target] of own) {
        const value = source.get(key);
        if (value !== undefined) native.copyInto(target.handle, value.handle);
      }
    });
    return { missing, unexpected };
  }

  /** Frees every parameter and buffer of the tree. The module is unusable afterwards. */
  dispose(): void {
    for (const [, tensor] of this.stateDict()) tensor.dispose();
  }

  /** Total number of parameter elements. */
  parameterCount(): number {
    return this.parameters().reduce((total, parameter) => total + parameter.size, 0);
  }
}

function join(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i]);
}
