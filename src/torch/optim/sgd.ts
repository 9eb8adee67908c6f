/** Stochastic gradient descent with momentum, Nesterov and weight decay (PyTorch's torch.optim.SGD). */
import { Optimizer, type OptimizerState } from './optimizer.js';
import { native } from '../native.js';
import { keep } from '../scope.js';
import { wrap, type Tensor } from '../tensor.js';
import { CheckpointError } from '../../errors.js';

/** Options of SGD. */
export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/**
 * SGD as in PyTorch: d = g + wd * p; buf = momentum * buf + (1 - dampening) * d (buf = d on the first step);
 * d = nesterov ? d + momentum * buf : buf; p -= lr * d.
 */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private buffers: (Tensor | null)[];

  constructor(params: Iterable<Tensor>, options: SGDOptions) {
    super(params, options.lr);
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RangeError('SGD: Nesterov momentum requires momentum > 0 and dampening = 0');
    }
    this.buffers = this.params.map(() => null);
  }

  step(): void {
    const created = native.sgdStep(this.params.map((p) => p.handle), this.buffers.map((b) => b?.handle ?? null),
      this.lr, this.momentum, this.dampening, this.weightDecay, this.nesterov);
    created.forEach((handle, index) => {
      if (handle !== undefined) this.buffers[index] = keep(wrap(handle));
    });
  }

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.buffers.forEach((buffer, index) => {
      if (buffer !== null) tensors.set(`state.${index}.momentum_buffer`, buffer);
    });
    return { tensors, meta: { kind: 'sgd', paramCount: this.params.length, lr: this.lr } };
  }

  loadStateDict(state: OptimizerState): void {
    this.checkMeta(state, 'sgd');
    const next = this.params.map((param, index) => {
      const saved = state.tensors.get(`state.${index}.momentum_buffer`);
      if (saved === undefined) return null;
      if (saved.shape.join() !== param.shape.join()) {
        throw new CheckpointError(`momentum buffer ${index} has shape [${saved.shape.join(', ')}], parameter has [${param.shape.join(', ')}]`);
      }
      return keep(saved.detach().clone());
    });
    this.dispose();
    this.buffers = next;
    this.lr = Number(state.meta.lr);
  }

  dispose(): void {
    for (const buffer of this.buffers) buffer?.dispose();
    this.buffers = this.params.map(() => null);
  }
}
