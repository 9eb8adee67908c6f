/** `contraseg eval`: a trained model on a dataset split at native resolution: per-class IoU, mIoU, pixel accuracy. */
import { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { logitAdjustmentOption, parseCommander, quietCommand, trainedModelSource, type TrainedModelSource } from './args.js';
import type { DatasetSource } from '../data/open-dataset.js';

/** Validated options of `contraseg eval`. */
export interface EvalOptions extends TrainedModelSource {
  readonly split: string;
  /** Dataset override (default: the run's own). */
  readonly dataset?: DatasetSource['kind'];
  readonly root?: string;
  readonly flip: boolean;
  readonly scales: number[];
  readonly json: boolean;
}

const EXAMPLES = `
Examples:
  contraseg eval --run runs/quick                        # final model on the run's test split
  contraseg eval --run runs/quick --best --split val     # best-val checkpoint on val
  contraseg eval --run runs/quick --flip --scales 0.75,1,1.25 --json
  contraseg eval --run runs/quick --split val --logit-adjustment 1   # rare classes: balanced logits`;

function scales(value: string): number[] {
  const list = value.split(',').map(Number);
  if (list.length === 0 || list.some((scale) => !(scale > 0))) throw new ConfigError(`--scales: expected positive numbers separated by commas, got "${value}"`);
  return list;
}

function buildCommand(): Command {
  return quietCommand(logitAdjustmentOption(new Command('eval')
    .description('evaluate a trained model at native resolution (confusion matrix, per-class IoU, mIoU, pixel accuracy)')
    .option('--run <dir>', 'run directory (or --checkpoint)')
    .option('--checkpoint <file>', 'a checkpoint JSON of a fine-tuned model')
    .option('--best', 'the best-val-mIoU checkpoint instead of the final one')
    .option('--split <name>', 'dataset split', 'test')
    .option('--dataset <kind>', 'dataset layout (default: the run\'s)')
    .option('--root <dir>', 'dataset folder (default: the run\'s)')
    .option('--flip', 'test-time augmentation: average with the flipped image')
    .option('--scales <list>', 'test-time augmentation: input scales, e.g. 0.75,1,1.25', scales, [1])
    .option('--json', 'print one JSON object'))
    .addHelpText('after', EXAMPLES));
}

/** Usage text of `contraseg eval`. */
export const evalUsage = (): string => buildCommand().helpInformation() + EXAMPLES.trimStart();

/** @throws ConfigError for bad options. */
export function parseEvalArgs(argv: readonly string[]): EvalOptions {
  const command = buildCommand();
  const flags = parseCommander(command, 'eval', argv);
  return {
    ...trainedModelSource(flags, 'eval'), split: flags.split as string,
    ...(flags.dataset === undefined ? {} : { dataset: flags.dataset as DatasetSource['kind'] }),
    ...(flags.root === undefined ? {} : { root: flags.root as string }),
    flip: flags.flip === true, scales: flags.scales as number[], json: flags.json === true,
  };
}
