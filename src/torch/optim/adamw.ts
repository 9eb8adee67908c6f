/** AdamW (Loshchilov & Hutter, decoupled weight decay), as PyTorch 1.13's torch.optim.AdamW. */
import { Optimizer, type OptimizerState } from './optimizer.js';
import { native } from '../native.js';
import { keep } from '../scope.js';
import { zerosLike } from '../creation.js';
import type { Tensor } from '../tensor.js';
import { CheckpointError } from '../../errors.js';

/** Options of AdamW (PyTorch's defaults). */
export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/**
 * p *= 1 - lr * wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 */
export class AdamW extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private expAvg: Tensor[];
  private expAvgSq: Tensor[];
  private steps: number[];

  constructor(params: Iterable<Tensor>, options: AdamWOptions = {}) {
    super(params, options.lr ?? 1e-3);
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 1e-2;
    this.expAvg = this.params.map((p) => keep(zerosLike(p.detach())));
    this.expAvgSq = this.params.map((p) => keep(zerosLike(p.detach())));
    this.steps = this.params.map(() => 0);
  }

  step(): void {
    // Advances this.steps in place for the parameters that have a gradient, as PyTorch counts.
    native.adamwStep(this.params.map((p) => p.handle), this.expAvg.map((t) => t.handle), this.expAvgSq.map((t) => t.handle),
      this.steps, this.lr, this.betas[0], this.betas[1], this.eps, this.weightDecay);
  }

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.params.forEach((_param, index) => {
      tensors.set(`state.${index}.exp_avg`, this.expAvg[index]);
      tensors.set(`state.${index}.exp_avg_sq`, this.expAvgSq[index]);
    });
    return { tensors, meta: { kind: 'adamw', paramCount: this.params.length, lr: this.lr, steps: [...this.steps] } };
  }

  loadStateDict(state: OptimizerState): void {
    this.checkMeta(state, 'adamw');
    const take = (name: string, index: number): Tensor => {
      const saved = state.tensors.get(`state.${index}.${name}`);
      if (saved === undefined) throw new CheckpointError(`optimizer state lacks state.${index}.${name}`);
      return keep(saved.detach().clone());
    };
    const expAvg = this.params.map((_p, index) => take('exp_avg', index));
    const expAvgSq = this.params.map((_p, index) => take('exp_avg_sq', index));
    this.dispose();
    this.expAvg = expAvg;
    this.expAvgSq = expAvgSq;
    this.steps = (state.meta.steps as number[]).slice();
    this.lr = Number(state.meta.lr);
  }

  dispose(): void {
    for (const tensor of [...this.expAvg, ...this.expAvgSq]) tensor.dispose();
  }
}
