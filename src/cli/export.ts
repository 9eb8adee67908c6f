/** `contraseg export`: a fine-tuned model as an ONNX file for onnxruntime (Node, the browser demo, `serve`). */
import { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { ONNX_OPSET } from '../deploy/onnx-graph.js';
import { ConfigError } from '../errors.js';
import { logitAdjustmentOption, parseCommander, quietCommand, trainedModelSource, type TrainedModelSource } from './args.js';

/** Validated options of `contraseg export`. */
export interface ExportCommandOptions extends TrainedModelSource {
  readonly out: string;
}

const EXAMPLES = `
Examples:
  contraseg export --run runs/quick --out model.onnx            # the final fine-tuned weights
  contraseg export --run runs/quick --best --out model.onnx     # the best-val-mIoU checkpoint
  contraseg export --checkpoint runs/quick/best --out model.onnx
The model takes "image" float32 [N, 3, H, W] normalised as (rgb / 255 - mean) / std, any N, H, W, and
returns "logits" float32 [N, C, H, W] at the input size (logit adjustment included); class names, colours, mean and std are in its
metadata. Run it with: contraseg predict --model model.onnx <images>, or load() from the library.`;

function buildCommand(): Command {
  return quietCommand(logitAdjustmentOption(new Command('export')
    .description(`write a fine-tuned model as ONNX (opset ${ONNX_OPSET}, dynamic batch/height/width, BatchNorm folded)`)
    .option('--run <dir>', 'run directory (or --checkpoint)')
    .option('--checkpoint <file>', 'a checkpoint JSON of a fine-tuned model, or <run dir>/best | <run dir>/finetune')
    .option('--best', 'the best-val-mIoU checkpoint instead of the final one')
    .requiredOption('--out <file>', 'the .onnx file to write'))
    .addHelpText('after', EXAMPLES));
}

/** Usage text of `contraseg export`. */
export const exportUsage = (): string => buildCommand().helpInformation() + EXAMPLES.trimStart();

/**
 * `<run dir>/best` and `<run dir>/finetune` name a series of a run (they are not files): the run
 * directory with that series. Anything else is passed on as it is.
 */
function seriesShorthand(source: string, series: 'finetune' | 'best'): { source: string; series: 'finetune' | 'best' } {
  const name = basename(source);
  if (!existsSync(source) && (name === 'best' || name === 'finetune') && existsSync(dirname(source)) && statSync(dirname(source)).isDirectory()) {
    return { source: dirname(source), series: name };
  }
  return { source, series };
}

/** @throws ConfigError for bad options. */
export function parseExportArgs(argv: readonly string[]): ExportCommandOptions {
  const command = buildCommand();
  const flags = parseCommander(command, 'export', argv);
  if (command.args.length > 0) throw new ConfigError(`export takes no positional arguments, got ${command.args.join(' ')}. See: contraseg export --help`);
  const { source, series, ...adjustment } = trainedModelSource(flags, 'export');
  const out = flags.out as string;
  if (!out.endsWith('.onnx')) throw new ConfigError(`--out: expected a file name ending in .onnx, got "${out}"`);
  return { ...seriesShorthand(source, series), ...adjustment, out };
}
