/** `contraseg predict`: coloured masks and overlays for images (a file, a folder or a glob) from a trained model. */
import { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { normalisedChw } from '../data/batch.js';
import { decodeImage } from '../data/image-io.js';
import { predictMasks } from '../eval/predict.js';
import { ConfigError } from '../errors.js';
import { colourMaskPng, overlayPng, DEFAULT_OVERLAY_OPACITY } from '../report/mask-images.js';
import { tensor } from '../torch/creation.js';
import { noGrad, scope } from '../torch/scope.js';
import { loadTrainedModel } from '../train/load-model.js';
import { parseCommander, quietCommand, trainedModelSource, type CliIO } from './args.js';
import { expandInputs, outputPaths } from './inputs.js';

/** Validated options of `contraseg predict`. */
export interface PredictOptions {
  readonly source: string;
  readonly series: 'finetune' | 'best';
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
Writes <stem>.png (palette PNG whose values are the class ids) and <stem>-overlay.png per image.`;

function buildCommand(): Command {
  return quietCommand(new Command('predict')
    .description('segment images with a trained model: coloured mask PNGs and overlays, at each image\'s own size')
    .argument('<inputs...>', 'image files, folders or glob patterns')
    .option('--run <dir>', 'run directory (or --checkpoint)')
    .option('--checkpoint <file>', 'a checkpoint JSON of a fine-tuned model')
    .option('--best', 'the best-val-mIoU checkpoint instead of the final one')
    .requiredOption('--out <dir>', 'output folder')
    .option('--opacity <a>', 'overlay opacity in [0, 1]', Number, DEFAULT_OVERLAY_OPACITY)
    .option('--flip', 'test-time augmentation: average with the flipped image')
    .addHelpText('after', EXAMPLES));
}

/** Usage text of `contraseg predict`. */
export const predictUsage = (): string => buildCommand().helpInformation() + EXAMPLES.trimStart();

/** @throws ConfigError for bad options. */
export function parsePredictArgs(argv: readonly string[]): PredictOptions {
  const command = buildCommand();
  const flags = parseCommander(command, 'predict', argv);
  const { source, series } = trainedModelSource(flags, 'predict');
  const opacity = flags.opacity as number;
  if (!(opacity >= 0 && opacity <= 1)) throw new ConfigError(`--opacity: expected a number in [0, 1], got ${String(flags.opacity)}`);
  return { source, series, inputs: command.args, out: flags.out as string, opacity, flip: flags.flip === true };
}

/** Runs `contraseg predict`: one forward per image at its native size. */
export async function runPredict(options: PredictOptions, io: CliIO): Promise<void> {
  const files = await expandInputs(options.inputs);
  const trained = loadTrainedModel(options.source, options.series);
  try {
    await mkdir(options.out, { recursive: true });
    const outputs = outputPaths(files, options.out);
    for (const [index, output] of outputs.entries()) {
      const image = await decodeImage(output.input);
      const classIds = noGrad(() => scope(() => {
        const input = tensor(normalisedChw(image.data, image.width, image.height), [1, 3, image.height, image.width]); // [1, 3, H, W]
        const masks = predictMasks(trained.model, input, { flip: options.flip }); // [1, H, W] int64
        return Uint8Array.from(masks.toTypedArray() as BigInt64Array, (value) => Number(value));
      }));
      const mask = { width: image.width, height: image.height, classIds };
      await writeFile(output.mask, colourMaskPng(mask, trained.colours));
      await writeFile(output.overlay, await overlayPng(image.data, mask, trained.colours, options.opacity));
      io.stderr(`[${index + 1}/${outputs.length}] ${output.input} -> ${output.mask}\n`);
    }
    io.stdout(`${outputs.length} image${outputs.length === 1 ? '' : 's'} segmented into ${options.out}\n`);
  } finally {
    trained.model.dispose();
  }
}
