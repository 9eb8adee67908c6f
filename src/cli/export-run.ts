/** `contraseg export`, the runner (loads the engine; main imports it only when the command runs). */
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/batch.js';
import { exportOnnx, writeModelFile } from '../deploy/export.js';
import { ONNX_OPSET } from '../deploy/onnx-graph.js';
import { adjustmentNote, openTrainedModel } from '../train/load-model.js';
import type { CliIO } from './args.js';
import type { ExportCommandOptions } from './export.js';

/** Runs `contraseg export`: loads the model, writes the ONNX file atomically, prints what it wrote. */
export async function runExport(options: ExportCommandOptions, io: CliIO): Promise<void> {
  const trained = await openTrainedModel(options.source, options.series, options);
  try {
    // Every contraseg run normalises with ImageNet's statistics (src/data/batch.ts), as predict and eval do.
    const bytes = exportOnnx(trained.model, { classNames: trained.classNames, colours: trained.colours, mean: IMAGENET_MEAN, std: IMAGENET_STD });
    writeModelFile(options.out, bytes);
    const backbone = trained.config.model.backbone;
    io.stderr(`exported ${trained.file} (step ${trained.step}, ${backbone}, ${trained.classNames.length} classes${adjustmentNote(trained.logitAdjustment)})\n`);
    io.stdout(`${options.out} (${(bytes.length / 2 ** 20).toFixed(1)} MB, ONNX opset ${ONNX_OPSET})\n`);
  } finally {
    trained.model.dispose();
  }
}
