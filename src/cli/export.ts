/** `contraseg export`: a fine-tuned model as an ONNX file for onnxruntime (Node, the browser demo, `serve`). */
import { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/batch.js';
import { exportOnnx, writeModelFile } from '../deploy/export.js';
import { ONNX_OPSET } from '../deploy/onnx-graph.js';
import { ConfigError } from '../errors.js';
import { loadTrainedModel } from '../train/load-model.js';
import { parseCommander, quietCommand, trainedModelSource, type CliIO } from './args.js';

/** Validated options of `contraseg export`. */
export interface ExportCommandOptions {
  /** Run directory or checkpoint. */
  readonly source: string;
  readonly series: 'finetune' | 'best';
  readonly out: string;
}

const EXAMPLES = `
Examples:
  contraseg export --run runs/quick --out model.onnx            # the final fine-tuned weights
  contraseg export --run runs/quick --best --out model.onnx     # the best-val-mIoU checkpoint
  contraseg export --checkpoint runs/quick/best --out model.onnx
The model takes "image" float32 [N, 3, H, W] normalised as (rgb / 255 - mean) / std, any N, H, W, and
returns "logits" float32 [N, C, H, W] at the input size; class names, colours, mean and std are in its
metadata. Run it with: contraseg predict --model model.onnx <images>, or load() from the library.`;

function buildCommand(): Command {
  return quietCommand(new Command('export')
    .description(`write a fine-tuned model as ONNX (opset ${ONNX_OPSET}, dynamic batch/height/width, BatchNorm folded)`)
    .option('--run <dir>', 'run directory (or --checkpoint)')
    .option('--checkpoint <file>', 'a checkpoint JSON of a fine-tuned model, or <run dir>/best | <run dir>/finetune')
    .option('--best', 'the best-val-mIoU checkpoint instead of the final one')
    .requiredOption('--out <file>', 'the .onnx file to write')
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
  const { source, series } = trainedModelSource(flags, 'export');
  const out = flags.out as string;
  if (!out.endsWith('.onnx')) throw new ConfigError(`--out: expected a file name ending in .onnx, got "${out}"`);
  return { ...seriesShorthand(source, series), out };
}

/** Runs `contraseg export`: loads the model, writes the ONNX file atomically, prints what it wrote. */
export async function runExport(options: ExportCommandOptions, io: CliIO): Promise<void> {
  const trained = loadTrainedModel(options.source, options.series);
  try {
    // Every contraseg run normalises with ImageNet's statistics (src/data/batch.ts), as predict and eval do.
    const bytes = exportOnnx(trained.model, { classNames: trained.classNames, colours: trained.colours, mean: IMAGENET_MEAN, std: IMAGENET_STD });
    writeModelFile(options.out, bytes);
    const backbone = trained.config.model.backbone;
    io.stderr(`exported ${trained.file} (step ${trained.step}, ${backbone}, ${trained.classNames.length} classes)\n`);
    io.stdout(`${options.out} (${(bytes.length / 2 ** 20).toFixed(1)} MB, ONNX opset ${ONNX_OPSET})\n`);
  } finally {
    trained.model.dispose();
  }
}
