/** A fine-tuned model back from its run directory or checkpoint, for `eval`, `predict` and `export`. */
import type { Rgb } from '../augment/geometric.js';
import { CheckpointError, ConfigError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { readCheckpoint, restoreCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import { MAX_LOGIT_ADJUSTMENT, parseRunConfig, type RunConfig } from './config.js';
import { buildFinetuneModel, type FinetuneModel } from './finetune.js';
import { classPixels, logitOffsets, recordedLogitAdjustment, type LogitAdjustment } from './logit-adjustment.js';
import { openRunData } from './build.js';

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

/** The tau a load applies: `override`, else the checkpoint's recorded one, else the run config's. */
function chosenTau(config: RunConfig, recorded: LogitAdjustment | null, override: number | undefined): number {
  const tau = override ?? recorded?.tau ?? config.finetune.logitAdjustment;
  if (!(tau >= 0 && tau <= MAX_LOGIT_ADJUSTMENT)) throw new ConfigError(`logit adjustment: tau must be a number in [0, ${MAX_LOGIT_ADJUSTMENT}], got ${tau}`);
  return tau;
}

/** What a fine-tuning checkpoint holds before the model is built. */
interface Described { readonly config: RunConfig; readonly names: string[]; readonly colours: Rgb[]; readonly recorded: LogitAdjustment | null }

/** Reads what a fine-tuning checkpoint holds (a stage-1 checkpoint is refused). */
function describe(checkpoint: LoadedCheckpoint): Described {
  const { meta, file } = checkpoint;
  if (meta.stage !== 'finetune') {
    throw new ConfigError(`${file} is a stage-1 (pretrain) checkpoint without a classifier; fine-tune it first: contraseg finetune --from <its run dir>`);
  }
  const config = parseRunConfig(meta.config, file);
  const { names, colours } = classesOf(meta.metrics, file);
  return { config, names, colours, recorded: recordedLogitAdjustment(meta.metrics, names.length, file) };
}

/**
 * The model of a fine-tuning checkpoint with the chosen adjustment; `counted` stands in for class counts the
 * checkpoint does not record.
 * @throws CheckpointError when a tau > 0 is asked and no class counts are recorded or given.
 */
function trainedFrom(checkpoint: LoadedCheckpoint, described: Described, options: LoadTrainedOptions, counted: readonly number[] | null): TrainedModel {
  const { config, names, colours, recorded } = described;
  const tau = chosenTau(config, recorded, options.logitAdjustment);
  const pixels = recorded?.pixels ?? counted;
  if (pixels === null && tau > 0) {
    throw new CheckpointError(`logit adjustment tau ${tau} needs the labelled class counts, which this checkpoint does not record ` +
      '(it was written before contraseg recorded them); the eval, predict and export commands count them from the run\'s labelled images', checkpoint.file);
  }
  const adjustment = pixels === null ? null : { tau, pixels };
  const offsets = adjustment === null || tau === 0 ? null : logitOffsets(adjustment); // finite: tau and the counts are bounded
  const model = restoredModel(checkpoint, buildFinetuneModel(config, names.length));
  try {
    model.head.setLogitOffset(offsets);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, config, classNames: names, colours, file: checkpoint.file, step: checkpoint.meta.step, logitAdjustment: adjustment };
}

/**
 * Loads the fine-tuned model of a run: `source` is a run directory (series `series`: 'finetune' = the
 * final weights, 'best' = the best val mIoU) or a checkpoint JSON. The model is in eval mode, with the run's
 * logit adjustment (or options.logitAdjustment's tau) applied.
 * @throws CheckpointError for a missing, damaged or mismatched checkpoint, or a tau > 0 on a checkpoint that records
 * no class counts (openTrainedModel counts them); ConfigError for a stage-1 one.
 */
export function loadTrainedModel(source: string, series: 'finetune' | 'best' = 'finetune', options: LoadTrainedOptions = {}): TrainedModel {
  const checkpoint = readCheckpoint(source, { name: series });
  try {
    return trainedFrom(checkpoint, describe(checkpoint), options, null);
  } finally {
    checkpoint.dispose();
  }
}

/**
 * loadTrainedModel that also serves runs whose checkpoints predate the recorded class counts: when a tau > 0 is
 * asked of one, the counts come from the run's labelled images, read from where the run found its dataset.
 * @throws as loadTrainedModel; DatasetError when the run's dataset cannot be read for the counts.
 */
export async function openTrainedModel(source: string, series: 'finetune' | 'best' = 'finetune', options: LoadTrainedOptions = {}): Promise<TrainedModel> {
  const checkpoint = readCheckpoint(source, { name: series });
  try {
    const described = describe(checkpoint);
    const { config, recorded } = described;
    let counted: number[] | null = null;
    if (recorded === null && chosenTau(config, null, options.logitAdjustment) > 0) {
      const data = await openRunData({ ...config, eval: { ...config.eval, test: false } }, checkpoint.meta.splitIds);
      counted = await classPixels(data.labelled);
    }
    return trainedFrom(checkpoint, described, options, counted);
  } finally {
    checkpoint.dispose();
  }
}

/** ", logit adjustment tau t" for a model that applies one, else "" (for the commands' status lines). */
export function adjustmentNote(adjustment: LogitAdjustment | null): string {
  return adjustment === null || adjustment.tau === 0 ? '' : `, logit adjustment tau ${adjustment.tau}`;
}
