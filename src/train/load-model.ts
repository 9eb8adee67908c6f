/** A fine-tuned model back from its run directory or checkpoint, for `eval`, `predict` and `export`. */
import type { Rgb } from '../augment/geometric.js';
import { CheckpointError, ConfigError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { readCheckpoint, restoreCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import { parseRunConfig, type RunConfig } from './config.js';
import { buildFinetuneModel, type FinetuneModel } from './finetune.js';
import { logitOffsets, recordedLogitAdjustment, type LogitAdjustment } from './logit-adjustment.js';

/** A trained model and what it was trained with. Dispose `model` when done. */
export interface TrainedModel {
  readonly model: FinetuneModel;
  readonly config: RunConfig;
  readonly classNames: string[];
  readonly colours: Rgb[];
  /** The checkpoint JSON that was loaded, and its step. */
  readonly file: string;
  readonly step: number;
  /** The logit adjustment the model applies (tau 0 = none), or null for a checkpoint that records no class counts. */
  readonly logitAdjustment: LogitAdjustment | null;
}

/** Options of loadTrainedModel. */
export interface LoadTrainedOptions {
  /** Apply this logit-adjustment tau instead of the run's own (0 = none); needs the class counts the checkpoint records. */
  readonly logitAdjustment?: number;
}

function classesOf(metrics: Record<string, unknown>, file: string): { names: string[]; colours: Rgb[] } {
  const classes = metrics.classes as { names?: unknown; colours?: unknown } | undefined;
  const names = classes?.names;
  const colours = classes?.colours;
  if (!Array.isArray(names) || !Array.isArray(colours) || names.length !== colours.length || names.length === 0) {
    throw new ConfigError(`${file} records no class table (metrics.classes); it was not written by contraseg train`);
  }
  return { names: names.map(String), colours: colours as Rgb[] };
}

/**
 * `model` (fresh, owned by the caller) with the checkpoint's weights, in eval mode. On a failed restore
 * the model is disposed before the error is rethrown, so the caller owns nothing then.
 * @throws CheckpointError for weights that do not fit the model.
 */
export function restoredModel<M extends Module>(checkpoint: LoadedCheckpoint, model: M): M {
  try {
    restoreCheckpoint(checkpoint, { model });
  } catch (error) {
    model.dispose();
    throw error;
  }
  model.eval();
  return model;
}

/**
 * The run's recorded adjustment, with `override` as tau when given.
 * @throws CheckpointError when a tau > 0 is asked (by the run or `override`) and the checkpoint records no class counts.
 */
function chosenAdjustment(config: RunConfig, metrics: Record<string, unknown>, numClasses: number, file: string, override: number | undefined): LogitAdjustment | null {
  const recorded = recordedLogitAdjustment(metrics, numClasses, file);
  const tau = override ?? recorded?.tau ?? config.finetune.logitAdjustment;
  if (!Number.isFinite(tau) || tau < 0) throw new ConfigError(`logit adjustment: tau must be a number >= 0, got ${tau}`);
  if (recorded === null) {
    if (tau > 0) {
      throw new CheckpointError(`logit adjustment tau ${tau} needs the labelled class counts, which this checkpoint does not record ` +
        '(it was written before contraseg recorded them); fine-tune the run again to apply it', file);
    }
    return null;
  }
  return { ...recorded, tau };
}

/**
 * Loads the fine-tuned model of a run: `source` is a run directory (series `series`: 'finetune' = the
 * final weights, 'best' = the best val mIoU) or a checkpoint JSON. The model is in eval mode.
 * @throws CheckpointError for a missing, damaged or mismatched checkpoint; ConfigError for a stage-1 one.
 */
export function loadTrainedModel(source: string, series: 'finetune' | 'best' = 'finetune', options: LoadTrainedOptions = {}): TrainedModel {
  const checkpoint = readCheckpoint(source, { name: series });
  try {
    const { meta, file } = checkpoint;
    if (meta.stage !== 'finetune') {
      throw new ConfigError(`${file} is a stage-1 (pretrain) checkpoint without a classifier; fine-tune it first: contraseg finetune --from <its run dir>`);
    }
    const config = parseRunConfig(meta.config, file);
    const { names, colours } = classesOf(meta.metrics, file);
    const adjustment = chosenAdjustment(config, meta.metrics, names.length, file, options.logitAdjustment);
    const model = restoredModel(checkpoint, buildFinetuneModel(config, names.length));
    if (adjustment !== null && adjustment.tau > 0) model.head.setLogitOffset(logitOffsets(adjustment));
    return { model, config, classNames: names, colours, file, step: meta.step, logitAdjustment: adjustment };
  } finally {
    checkpoint.dispose();
  }
}

/** ", logit adjustment tau t" for a model that applies one, else "" (for the commands' status lines). */
export function adjustmentNote(adjustment: LogitAdjustment | null): string {
  return adjustment === null || adjustment.tau === 0 ? '' : `, logit adjustment tau ${adjustment.tau}`;
}
