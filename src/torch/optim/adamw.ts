/** AdamW (Loshchilov & Hutter, decoupled weight decay), as PyTorch 1.13's torch.optim.AdamW. */
import { checkOptions, Optimizer, checkSetting, splitGroups, type OptimizerState, type ParamGroup, type Params, type ResolvedGroup } from './optimizer.js';
import { native } from '../native.js';
import { keep, noGrad } from '../scope.js';
import { zerosLike } from '../creation.js';
import type { Tensor } from '../tensor.js';
import { CheckpointError } from '../../errors.js';

/** Options of AdamW (PyTorch's defaults); every setting but lr is also the default of the groups that do not set it. */
export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** A parameter group of AdamW: its parameters and the settings that differ from the optimiser's options. */
export interface AdamWParamGroup extends ParamGroup {
  readonly betas?: [number, number];
  readonly eps?: number;
  readonly weightDecay?: number;
}

/** @throws ConfigError for a setting out of range, naming the group. */
function resolveGroup(params: Tensor[], group: Partial<AdamWParamGroup>, options: AdamWOptions, index: number): ResolvedGroup<AdamWParamGroup> {
  const betas = group.betas ?? options.betas ?? [0.9, 0.999];
  const resolved = {
    params, lrScale: group.lrScale ?? 1, betas: [betas[0], betas[1]] as [number, number],
    eps: group.eps ?? options.eps ?? 1e-8, weightDecay: group.weightDecay ?? options.weightDecay ?? 1e-2,
  };
  const what = `AdamW group ${index}`;
  checkSetting(`${what} lrScale`, resolved.lrScale, 0);
  checkSetting(`${what} betas[0]`, resolved.betas[0], 0, 1);
  checkSetting(`${what} betas[1]`, resolved.betas[1], 0, 1);
  checkSetting(`${what} eps`, resolved.eps, 0);
  checkSetting(`${what} weightDecay`, resolved.weightDecay, 0);
  return resolved;
}

/**
 * p *= 1 - lr * wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). Each group uses its own settings and lr * lrScale;
 * t counts the steps in which the parameter had a gradient, as torch.optim counts.
 */
export class AdamW extends Optimizer {
  readonly paramGroups: readonly ResolvedGroup<AdamWParamGroup>[];
  /** The options' settings (the defaults of the groups). */
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  /** First and second moments and step count per parameter (index into params). */
  private expAvg: Tensor[];
  private expAvgSq: Tensor[];
  private steps: number[];

  /** @throws ConfigError for a setting out of range, a mix of tensors and groups, or a parameter listed twice. */
  constructor(params: Params<AdamWParamGroup>, options: AdamWOptions = {}) {
    checkOptions(options, 'AdamW');
    const groups = splitGroups(params, 'AdamW').map(({ params: list, settings }, index) => resolveGroup(list, settings, options, index));
    super(groups, options.lr ?? 1e-3, 'AdamW');
    this.paramGroups = groups;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 1e-2;
    this.expAvg = this.params.map((p) => keep(zerosLike(p)));
    this.expAvgSq = this.params.map((p) => keep(zerosLike(p)));
    this.steps = this.params.map(() => 0);
  }

  step(): void {
    this.checkLive([this.expAvg, this.expAvgSq]);
    const steps = this.steps.slice(); // the addon advances the counts in place: kept only if the whole step succeeds
    let offset = 0;
    for (const group of this.paramGroups) {
      const end = offset + group.params.length;
      const groupSteps = steps.slice(offset, end);
      native.adamwStep(group.params.map((p) => p.handle), this.expAvg.slice(offset, end).map((t) => t.handle),
        this.expAvgSq.slice(offset, end).map((t) => t.handle), groupSteps, this.lr * group.lrScale,
        group.betas[0], group.betas[1], group.eps, group.weightDecay);
      steps.splice(offset, groupSteps.length, ...groupSteps);
      offset = end;
    }
    this.steps = steps;
  }

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.params.forEach((_param, index) => {
      tensors.set(`state.${index}.exp_avg`, this.expAvg[index] as Tensor);
      tensors.set(`state.${index}.exp_avg_sq`, this.expAvgSq[index] as Tensor);
    });
    return { tensors, meta: { ...this.baseMeta('adamw'), steps: [...this.steps] } };
  }

  loadStateDict(state: OptimizerState): void {
    const lr = this.checkMeta(state, 'adamw', ['exp_avg', 'exp_avg_sq']);
    const steps = state.meta.steps;
    if (!Array.isArray(steps) || steps.length !== this.params.length || !steps.every((step) => Number.isInteger(step) && step >= 0)) {
      throw new CheckpointError(`optimizer state steps: expected ${this.params.length} step counts (integers >= 0), ` +
        `got ${JSON.stringify(steps)}`);
    }
    const take = (name: string, index: number): Tensor => {
      const saved = this.savedTensor(state, index, name);
      if (saved === undefined) throw new CheckpointError(`optimizer state lacks state.${index}.${name}`);
      return saved;
    };
    const savedAvg = this.params.map((_p, index) => take('exp_avg', index));
    const savedAvgSq = this.params.map((_p, index) => take('exp_avg_sq', index));
    const copy = (tensors: Tensor[]): Tensor[] => tensors.map((tensor) => keep(noGrad(() => tensor.clone())));
    const expAvg = copy(savedAvg);
    const expAvgSq = copy(savedAvgSq);
    this.dispose(); // after the copies: `state` may be this optimizer's own stateDict()
    this.expAvg = expAvg;
    this.expAvgSq = expAvgSq;
    this.steps = steps.slice();
    this.lr = lr;
  }

  dispose(): void {
    for (const tensor of [...this.expAvg, ...this.expAvgSq]) tensor.dispose();
  }
}
