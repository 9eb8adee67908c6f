/** A fine-tuned model back from its run directory or checkpoint, for `eval`, `predict` and `export`. */
import type { Rgb } from '../augment/geometric.js';
import { ConfigError } from '../errors.js';
import { readCheckpoint, restoreCheckpoint } from './checkpoint.js';
import { parseRunConfig, type RunConfig } from './config.js';
import { buildFinetuneModel, type FinetuneModel } from './finetune.js';

/** A trained model and what it was trained with. Dispose `model` when done. */
export interface TrainedModel {
  readonly model: FinetuneModel;
  readonly config: RunConfig;
  readonly classNames: string[];
  readonly colours: Rgb[];
  /** The checkpoint JSON that was loaded, and its step. */
  readonly file: string;
  readonly step: number;
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
 * Loads the fine-tuned model of a run: `source` is a run directory (series `series`: 'finetune' = the
 * final weights, 'best' = the best val mIoU) or a checkpoint JSON. The model is in eval mode.
 * @throws CheckpointError for a missing, damaged or mismatched checkpoint; ConfigError for a stage-1 one.
 */
export function loadTrainedModel(source: string, series: 'finetune' | 'best' = 'finetune'): TrainedModel {
  const checkpoint = readCheckpoint(source, { name: series });
  try {
    const { meta, file } = checkpoint;
    if (meta.stage !== 'finetune') {
      throw new ConfigError(`${file} is a stage-1 (pretrain) checkpoint without a classifier; fine-tune it first: contraseg finetune --from <its run dir>`);
    }
    const config = parseRunConfig(meta.config, file);
    const { names, colours } = classesOf(meta.metrics, file);
    const model = buildFinetuneModel(config, names.length);
    try {
      restoreCheckpoint(checkpoint, { model });
    } catch (error) {
      model.dispose();
      throw error;
    }
    model.eval();
    return { model, config, classNames: names, colours, file, step: meta.step };
  } finally {
    checkpoint.dispose();
  }
}
