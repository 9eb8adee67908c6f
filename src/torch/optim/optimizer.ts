/** Optimiser base: parameters, a learning rate that schedules set, and capturable state. */
import type { Tensor } from '../tensor.js';
import { CheckpointError } from '../../errors.js';

/**
 * Everything an optimiser needs to resume bit-exactly: its tensors by name (e.g. `state.3.momentum_buffer`,
 * index = position in the parameter list) and plain-JSON settings.
 */
export interface OptimizerState {
  tensors: Map<string, Tensor>;
  meta: Record<string, number | boolean | string | number[]>;
}

/** Base class of SGD and AdamW. */
export abstract class Optimizer {
  /** The parameters updated by step() (borrowed from the model). */
  readonly params: readonly Tensor[];
  /** Current learning rate; schedules assign it before each step. */
  lr: number;

  protected constructor(params: Iterable<Tensor>, lr: number) {
    this.params = [...params];
    if (!(lr >= 0)) throw new RangeError(`learning rate must be >= 0, got ${lr}`);
    this.lr = lr;
  }

  /** Updates every parameter that has a gradient, in place. */
  abstract step(): void;

  /** Drops every parameter's gradient (call before backward()). */
  zeroGrad(): void {
    for (const param of this.params) param.zeroGrad();
  }

  /** The state, for checkpoints. Tensors are the optimiser's own (borrowed): do not dispose them. */
  abstract stateDict(): OptimizerState;

  /** Restores a state from stateDict() (tensors are copied). @throws CheckpointError on a mismatch. */
  abstract loadStateDict(state: OptimizerState): void;

  /** Frees the optimiser's state tensors. */
  abstract dispose(): void;

  /** @internal Checks a saved state belongs to an optimiser of this kind and size. */
  protected checkMeta(state: OptimizerState, kind: string): void {
    if (state.meta.kind !== kind) throw new CheckpointError(`optimizer state is for '${String(state.meta.kind)}', this optimizer is '${kind}'`);
    if (state.meta.paramCount !== this.params.length) {
      throw new CheckpointError(`optimizer state has ${String(state.meta.paramCount)} parameters, this optimizer has ${this.params.length}; ` +
        'the model architecture must be the same as when the checkpoint was written');
    }
  }
}
