/** Optimiser state <-> safetensors file (tensors as tensors, settings as JSON metadata). */
import { loadSafetensors, saveSafetensors } from '../safetensors.js';
import type { OptimizerState } from './optimizer.js';
import { CheckpointError } from '../../errors.js';

const META_KEY = 'contraseg.optimizer';

/** Writes an optimiser's stateDict() to `file` atomically. */
export function saveOptimizerState(file: string, state: OptimizerState): void {
  saveSafetensors(file, state.tensors, { [META_KEY]: JSON.stringify(state.meta) });
}

/** Reads a state written by saveOptimizerState. The tensors belong to the caller. @throws CheckpointError. */
export function loadOptimizerState(file: string): OptimizerState {
  const { tensors, metadata } = loadSafetensors(file);
  const meta = metadata[META_KEY];
  if (meta === undefined) {
    for (const tensor of tensors.values()) tensor.dispose();
    throw new CheckpointError(`no '${META_KEY}' metadata: not an optimizer state written by contraseg`, file);
  }
  return { tensors, meta: JSON.parse(meta) as OptimizerState['meta'] };
}
