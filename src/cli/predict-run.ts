/** `contraseg predict`, the runner (loads the engine or onnxruntime; main imports it only when the command runs). */
import { mkdir, writeFile } from 'node:fs/promises';
import { normalisedChw } from '../data/batch.js';
import { decodeImage, type DecodedImage } from '../data/image-io.js';
import { load } from '../deploy/segmenter.js';
import { predictMasks } from '../eval/predict.js';
import { colourMaskPng, overlayPng, type RgbColour } from '../report/mask-images.js';
import { tensor } from '../torch/creation.js';
import { noGrad, scope } from '../torch/scope.js';
import { openTrainedModel } from '../train/load-model.js';
import type { CliIO, TrainedModelSource } from './args.js';
import { expandInputs, outputPaths } from './inputs.js';
import type { PredictOptions } from './predict.js';

/** What the writer needs of a model: class ids of an image at its own size, the palette, and clean-up. */
interface MaskPredictor {
  readonly colours: readonly RgbColour[];
  classIds(image: DecodedImage): Promise<Uint8Array>;
  dispose(): Promise<void>;
}

async function libtorchPredictor(source: TrainedModelSource, flip: boolean): Promise<MaskPredictor> {
  const trained = await openTrainedModel(source.source, source.series, source);
  return {
    colours: trained.colours,
    classIds: async (image) => noGrad(() => scope(() => {
      const input = tensor(normalisedChw(image.data, image.width, image.height), [1, 3, image.height, image.width]); // [1, 3, H, W]
      const masks = predictMasks(trained.model, input, { flip }); // [1, H, W] int64
      return Uint8Array.from(masks.toTypedArray() as BigInt64Array, (value) => Number(value));
    })),
    dispose: async () => trained.model.dispose(),
  };
}

async function onnxPredictor(file: string, flip: boolean): Promise<MaskPredictor> {
  const segmenter = await load(file);
  return {
    colours: segmenter.metadata.colours,
    classIds: async (image) => (await segmenter.segment(image, { flip })).mask,
    dispose: () => segmenter.dispose(),
  };
}

/** Runs `contraseg predict`: one forward per image at its native size, with libtorch or onnxruntime. */
export async function runPredict(options: PredictOptions, io: CliIO): Promise<void> {
  const files = await expandInputs(options.inputs);
  const source = options.model;
  const predictor = source.kind === 'onnx' ? await onnxPredictor(source.file, options.flip) : await libtorchPredictor(source, options.flip);
  try {
    await mkdir(options.out, { recursive: true });
    const outputs = outputPaths(files, options.out);
    for (const [index, output] of outputs.entries()) {
      const image = await decodeImage(output.input);
      const mask = { width: image.width, height: image.height, classIds: await predictor.classIds(image) };
      await writeFile(output.mask, colourMaskPng(mask, predictor.colours));
      await writeFile(output.overlay, await overlayPng(image.data, mask, predictor.colours, options.opacity));
      io.stderr(`[${index + 1}/${outputs.length}] ${output.input} -> ${output.mask}\n`);
    }
    io.stdout(`${outputs.length} image${outputs.length === 1 ? '' : 's'} segmented into ${options.out}\n`);
  } finally {
    await predictor.dispose();
  }
}
