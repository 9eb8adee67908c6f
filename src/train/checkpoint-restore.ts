/** Applying a read checkpoint to a model and an optimiser: architecture check first, then the copies. */
import { CheckpointError, ContrasegError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { getRngState, setRngState } from '../torch/creation.js';
import type { Optimizer, OptimizerState } from '../torch/optim/optimizer.js';
import type { Tensor } from '../torch/tensor.js';
import { modelFingerprint, type JsonValue, type LoaderPosition, type Stage } from './checkpoint-format.js';
import type { LoadedCheckpoint } from './checkpoint.js';

/** Prefix of the model's state-dict keys inside the safetensors file. */
export const MODEL_PREFIX = 'model.';
/** Prefix of the optimiser's state tensors inside the safetensors file. */
export const OPTIMIZER_PREFIX = 'optim.';

/** What restoreCheckpoint hands back to the training loop. */
export interface RestoredState {
  step: number;
  stage: Stage;
  loaderPosition: LoaderPosition;
  config: JsonValue;
  splitIds: string[];
  metrics: Record<string, JsonValue>;
}

/** The modules a checkpoint is restored into. */
export interface RestoreTargets {
  model: Module;
  optimizer?: Optimizer;
}

/**
 * Applies a checkpoint: checks the model's architecture fingerprint first (nothing is copied on a
 * mismatch), loads the optimiser state if `targets.optimizer` is given, the model (strict), then the RNG.
 * The checkpoint's tensors are copied; it still belongs to the caller.
 * @throws CheckpointError naming the file: another architecture (listing differing keys), no optimiser
 * state, an optimiser state of another kind or size, a malformed RNG state.
 */
export function restoreCheckpoint(checkpoint: LoadedCheckpoint, targets: RestoreTargets): RestoredState {
  const { meta, file } = checkpoint;
  const modelState = stripPrefix(checkpoint.tensors, MODEL_PREFIX);
  const own = targets.model.stateDict();
  if (modelFingerprint(shapesOf(own)) !== meta.model.fingerprint) {
    throw new CheckpointError(`written for another model architecture: ${describeMismatch(modelState, own)}. ` +
      'Build the model from the checkpoint\'s own config (meta.config).', file);
  }
  const rngState = new Uint8Array(Buffer.from(meta.rngState, 'base64'));
  if (rngState.byteLength !== getRngState().byteLength) {
    throw new CheckpointError(`RNG state has ${rngState.byteLength} bytes, this libtorch's has ${getRngState().byteLength}`, file);
  }
  if (targets.optimizer !== undefined) {
    if (meta.optimizer === null) {
      throw new CheckpointError('has no optimizer state (saved without one); restore without `optimizer` to load the weights only', file);
    }
    const state: OptimizerState = { tensors: stripPrefix(checkpoint.tensors, OPTIMIZER_PREFIX), meta: meta.optimizer as OptimizerState['meta'] };
    applyOrExplain(() => targets.optimizer?.loadStateDict(state), 'optimizer state does not fit this optimizer', file);
  }
  applyOrExplain(() => targets.model.loadStateDict(modelState, { strict: true }), 'model state does not fit', file);
  applyOrExplain(() => setRngState(rngState), 'RNG state is malformed', file);
  return {
    step: meta.step, stage: meta.stage, loaderPosition: { ...meta.loaderPosition }, config: meta.config,
    splitIds: [...meta.splitIds], metrics: { ...meta.metrics },
  };
}

/** A state dict's `[key, shape]` pairs, the input of modelFingerprint. */
export function shapesOf(state: Map<string, Tensor>): [string, number[]][] {
  return [...state].map(([key, value]) => [key, value.shape]);
}

function stripPrefix(tensors: Map<string, Tensor>, prefix: string): Map<string, Tensor> {
  const result = new Map<string, Tensor>();
  for (const [key, value] of tensors) if (key.startsWith(prefix)) result.set(key.slice(prefix.length), value);
  return result;
}

function applyOrExplain(apply: () => unknown, what: string, file: string): void {
  try {
    apply();
  } catch (error) {
    if (error instanceof ContrasegError) throw new CheckpointError(`${what}: ${error.message}`, file);
    throw error;
  }
}

const SHOWN_KEYS = 5;

function describeMismatch(saved: Map<string, Tensor>, own: Map<string, Tensor>): string {
  const shape = (value: Tensor): string => `[${value.shape.join(', ')}]`;
  const missing = [...own.keys()].filter((key) => !saved.has(key));
  const unexpected = [...saved.keys()].filter((key) => !own.has(key));
  const reshaped = [...own].filter(([key, value]) => saved.has(key) && shape(saved.get(key) as Tensor) !== shape(value))
    .map(([key, value]) => `${key} (checkpoint ${shape(saved.get(key) as Tensor)}, model ${shape(value)})`);
  const list = (label: string, keys: string[]): string[] => keys.length === 0 ? [] :
    [`${label}: ${keys.slice(0, SHOWN_KEYS).join(', ')}${keys.length > SHOWN_KEYS ? ` (+${keys.length - SHOWN_KEYS} more)` : ''}`];
  const parts = [...list('not in the checkpoint', missing), ...list('not in the model', unexpected), ...list('other shapes', reshaped)];
  return parts.length > 0 ? parts.join('; ') : 'the fingerprint differs';
}
