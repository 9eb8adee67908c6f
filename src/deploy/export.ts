/**
 * ONNX export of a fine-tuned model: the whole eval-mode network (backbone, ASPP, decoder, classifier,
 * final resize to the input size) with dynamic batch, height and width, weights as initializers and
 * the class table and normalisation as metadata_props (metadata.ts states the contract).
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CheckpointError, ConfigError } from '../errors.js';
import type { SegmentationModel } from '../models/segmentation-model.js';
import { ModelGraphEmitter } from './export-graph.js';
import { encodeMetadata, ONNX_INPUT, ONNX_OUTPUT, packageVersion, type ModelMetadata } from './metadata.js';
import { ONNX_OPSET, OnnxGraphBuilder } from './onnx-graph.js';

/** What goes into the model beside the weights. */
export interface ExportOptions {
  readonly classNames: readonly string[];
  readonly colours: readonly (readonly [number, number, number])[];
  /** Normalisation the model was trained with, 0-1 RGB scale (ImageNet's for every contraseg run). */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  /** Default ONNX_OPSET (17), the lowest the graph is written for (Shape with start/end needs 15, ONNX 1.12 is 17). */
  readonly opset?: number;
}

/**
 * The ONNX ModelProto bytes of a fine-tuned model (borrowed; its weights are read, its mode untouched):
 * input `image` float32 [N, 3, H, W] (normalised), output `logits` float32 [N, numClasses, H, W].
 * @throws ConfigError for a model without a classifier head or with a layer the exporter cannot translate,
 * a class table whose length differs from the classifier's, or an opset below 17.
 */
export function exportOnnx(model: SegmentationModel, options: ExportOptions): Uint8Array {
  const opset = options.opset ?? ONNX_OPSET;
  if (!Number.isInteger(opset) || opset < ONNX_OPSET) throw new ConfigError(`ONNX export: opset must be an integer >= ${ONNX_OPSET}, got ${opset}`);
  const numClasses = (model.head as { numClasses?: number }).numClasses;
  if (numClasses !== undefined && (options.classNames.length !== numClasses || options.colours.length !== numClasses)) {
    throw new ConfigError(`the class table has ${options.classNames.length} names and ${options.colours.length} colours ` +
      `but the classifier has ${numClasses} classes; pass the dataset's class table`);
  }
  const graph = new OnnxGraphBuilder();
  const images = graph.addInput(ONNX_INPUT, ['N', 3, 'H', 'W']);
  const logits = new ModelGraphEmitter(graph).segmentationModel(model, images);
  graph.addOutput(logits, ONNX_OUTPUT, ['N', numClasses ?? 'C', 'H', 'W']);
  const metadata: ModelMetadata = {
    classNames: [...options.classNames], colours: options.colours.map((colour) => [colour[0], colour[1], colour[2]]),
    mean: [...options.mean], std: [...options.std], version: packageVersion(), outputStride: model.network.backbone.outputStride,
  };
  const backbone = model.network.config.backbone;
  return graph.toModel({
    graphName: `contraseg_deeplabv3plus_${backbone.kind}`,
    producerVersion: metadata.version,
    docString: `DeepLabV3+ ${backbone.kind} (width ${backbone.widthMultiplier ?? 1}, output stride ${backbone.outputStride}), ` +
      `${numClasses} classes; input image [N, 3, H, W] normalised as (rgb / 255 - mean) / std, output logits [N, C, H, W]`,
    metadata: encodeMetadata(metadata),
    opset,
  });
}

/**
 * Writes bytes to `file` atomically (a temp file beside it, fsync, rename), so a crash never leaves a
 * truncated model under the final name. @throws CheckpointError naming the file.
 */
export function writeModelFile(file: string, bytes: Uint8Array): void {
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    const descriptor = openSync(temporary, 'w');
    try {
      for (let offset = 0; offset < bytes.length;) offset += writeSync(descriptor, bytes, offset, bytes.length - offset);
      fsyncSync(descriptor);
    } finally {
      closeSync(descriptor);
    }
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new CheckpointError(`cannot write the ONNX model (${(error as Error).message}); check the folder exists and is writable`, file);
  }
}
