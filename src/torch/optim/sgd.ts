/** Stochastic gradient descent with momentum, Nesterov and weight decay (PyTorch's torch.optim.SGD). */
import { checkOptions, Optimizer, checkSetting, splitGroups, type OptimizerState, type ParamGroup, type Params, type ResolvedGroup } from './optimizer.js';
import { native } from '../native.js';
import { keep, noGrad } from '../scope.js';
import { wrap, type Tensor } from '../tensor.js';
import { ConfigError } from '../../errors.js';

/** Options of SGD; every setting but lr is also the default of the groups that do not set it. */
export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** A parameter group of SGD: its parameters and the settings that differ from the optimiser's options. */
export interface SGDParamGroup extends ParamGroup {
  readonly momentum?: number;
  readonly dampening?: number;
  readonly weightDecay?: number;
  readonly nesterov?: boolean;
}

/** @throws ConfigError for a setting out of range, naming the group. */
function resolveGroup(params: Tensor[], group: Partial<SGDParamGroup>, options: SGDOptions, index: number): ResolvedGroup<SGDParamGroup> {
  const resolved = {
    params, lrScale: group.lrScale ?? 1, momentum: group.momentum ?? options.momentum ?? 0,
    dampening: group.dampening ?? options.dampening ?? 0, weightDecay: group.weightDecay ?? options.weightDecay ?? 0,
    nesterov: group.nesterov ?? options.nesterov ?? false,
  };
  const what = `SGD group ${index}`;
  checkSetting(`${what} lrScale`, resolved.lrScale, 0);
  checkSetting(`${what} momentum`, resolved.momentum, 0);
  checkSetting(`${what} dampening`, resolved.dampening, -Infinity);
  checkSetting(`${what} weightDecay`, resolved.weightDecay, 0);
  if (resolved.nesterov && (resolved.momentum <= 0 || resolved.dampening !== 0)) {
    throw new ConfigError(`${what}: Nesterov momentum requires momentum > 0 and dampening = 0, got momentum ${resolved.momentum} ` +
      `and dampening ${resolved.dampening}.`);
  }
  return resolved;
}

/**
 * SGD as in PyTorch: d = g + wd * p; buf = momentum * buf + (1 - dampening) * d (buf = d on the first step);
 * d = nesterov ? d + momentum * buf : buf; p -= lr * d. Each group uses its own settings and lr * lrScale.
 * E.g. `new SGD([{ params: weights }, { params: biases, weightDecay: 0 }], { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 })`.
 */
export class SGD extends Optimizer {
  readonly paramGroups: readonly ResolvedGroup<SGDParamGroup>[];
  /** The options' settings (the defaults of the groups). */
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  /** Momentum buffer per parameter (index into params), created on its first step with a gradient. */
  private buffers: (Tensor | null)[];

  /** @throws ConfigError for a setting out of range, a mix of tensors and groups, or a parameter listed twice. */
  constructor(params: Params<SGDParamGroup>, options: SGDOptions) {
    checkOptions(options, 'SGD');
    const groups = splitGroups(params, 'SGD').map(({ params: list, settings }, index) => resolveGroup(list, settings, options, index));
    super(groups, options.lr, 'SGD');
    this.paramGroups = groups;
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.buffers = this.params.map(() => null);
  }

  step(): void {
    this.checkLive([this.buffers]);
    let offset = 0;
    for (const group of this.paramGroups) {
      const count = group.params.length;
      const created = native.sgdStep(group.params.map((p) => p.handle), this.buffers.slice(offset, offset + count).map((b) => b?.handle ?? null),
        this.lr * group.lrScale, group.momentum, group.dampening, group.weightDecay, group.nesterov);
      const first = offset;
      created.forEach((handle, index) => {
        if (handle !== undefined) this.buffers[first + index] = keep(wrap(handle));
      });
      offset += count;
    }
  }

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.buffers.forEach((buffer, index) => {
      if (buffer !== null) tensors.set(`state.${index}.momentum_buffer`, buffer);
    });
    return { tensors, meta: this.baseMeta('sgd') };
  }

  loadStateDict(state: OptimizerState): void {
    const lr = this.checkMeta(state, 'sgd', ['momentum_buffer']);
    const saved = this.params.map((_param, index) => this.savedTensor(state, index, 'momentum_buffer'));
    const buffers = saved.map((tensor) => (tensor === undefined ? null : keep(noGrad(() => tensor.clone()))));
    this.dispose(); // after the copies: `state` may be this optimizer's own stateDict()
    this.buffers = buffers;
    this.lr = lr;
  }

  dispose(): void {
    for (const buffer of this.buffers) buffer?.dispose();
    this.buffers = this.params.map(() => null);
  }
}
