/**
 * `contraseg predict`: coloured masks and overlays for images (a file, a folder or a glob) from a trained
 * model: a run or checkpoint through libtorch, or an exported .onnx file through onnxruntime-node.
 */
import { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { DEFAULT_OVERLAY_OPACITY } from '../report/mask-images.js';
import { logitAdjustmentOption, parseCommander, quietCommand, trainedModelSource, type TrainedModelSource } from './args.js';

/** Where the model comes from: a run / checkpoint (libtorch) or an exported .onnx file (onnxruntime-node). */
export type PredictModelSource =
  | ({ readonly kind: 'checkpoint' } & TrainedModelSource)
  | { readonly kind: 'onnx'; readonly file: string };

/** Validated options of `contraseg predict`. */
export interface PredictOptions {
  readonly model: PredictModelSource;
  readonly inputs: string[];
  readonly out: string;
  readonly opacity: number;
  readonly flip: boolean;
}

const EXAMPLES = `
Examples:
  contraseg predict --run runs/quick --out masks photo.jpg
  contraseg predict --run runs/quick --out masks ../shared/data/camvid_180x240/test
  contraseg predict --run runs/quick --best --out masks 'frames/*.png' --opacity 0.6
  contraseg predict --model model.onnx --out masks photo.jpg     # an exported model (contraseg export), onnxruntime
Writes <stem>.png (palette PNG whose values are the class ids) and <stem>-overlay.png per image.`;

function buildCommand(): Command {
  return quietCommand(logitAdjustmentOption(new Command('predict')
    .description('segment images with a trained model: coloured mask PNGs and overlays, at each image\'s own size')
    .argument('<inputs...>', 'image files, folders or glob patterns')
    .option('--run <dir>', 'run directory (or --checkpoint)')
    .option('--checkpoint <file>', 'a checkpoint JSON of a fine-tuned model')
    .option('--best', 'the best-val-mIoU checkpoint instead of the final one')
    .option('--model <file.onnx>', 'an ONNX model written by contraseg export (instead of --run / --checkpoint)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--opacity <a>', 'overlay opacity in [0, 1]', Number, DEFAULT_OVERLAY_OPACITY)
    .option('--flip', 'test-time augmentation: average with the flipped image'))
    .addHelpText('after', EXAMPLES));
}

/** Usage text of `contraseg predict`. */
export const predictUsage = (): string => buildCommand().helpInformation() + EXAMPLES.trimStart();

/** @throws ConfigError for bad options. */
export function parsePredictArgs(argv: readonly string[]): PredictOptions {
  const command = buildCommand();
  const flags = parseCommander(command, 'predict', argv);
  const opacity = flags.opacity as number;
  if (!(opacity >= 0 && opacity <= 1)) throw new ConfigError(`--opacity: expected a number in [0, 1], got ${String(flags.opacity)}`);
  const flip = flags.flip === true;
  return { model: modelSource(flags), inputs: command.args, out: flags.out as string, opacity, flip };
}

function modelSource(flags: Record<string, unknown>): PredictModelSource {
  if (flags.model === undefined) return { kind: 'checkpoint', ...trainedModelSource(flags, 'predict') };
  const file = flags.model as string;
  if (flags.run !== undefined || flags.checkpoint !== undefined || flags.best === true || flags.logitAdjustment !== undefined) {
    throw new ConfigError('give either --model <file.onnx> or --run / --checkpoint [--best] [--logit-adjustment], not both '
      + '(an exported model carries the adjustment it was exported with). See: contraseg predict --help');
  }
  if (!file.endsWith('.onnx')) throw new ConfigError(`--model: expected an .onnx file written by contraseg export, got "${file}"; for a run use --run <dir>`);
  return { kind: 'onnx', file };
}
