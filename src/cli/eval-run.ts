/** `contraseg eval`, the runner (loads the engine; main imports it only when the command runs). */
import { openDataset, type DatasetSource } from '../data/open-dataset.js';
import { evaluate } from '../eval/index.js';
import { formatSummaryTable } from '../report/summary.js';
import { adjustmentNote, openTrainedModel } from '../train/load-model.js';
import type { CliIO } from './args.js';
import type { EvalOptions } from './eval.js';
import { plainEvaluation } from './train-run.js';

/** Runs `contraseg eval`. */
export async function runEval(options: EvalOptions, io: CliIO): Promise<void> {
  const trained = await openTrainedModel(options.source, options.series, options);
  try {
    const kind = options.dataset ?? trained.config.data.kind;
    const dataset = await openDataset({ kind, root: options.root ?? trained.config.data.root, split: options.split } as DatasetSource);
    io.stderr(`evaluating ${trained.file} (step ${trained.step}${adjustmentNote(trained.logitAdjustment)}) on ${dataset.name}: ${dataset.length} images\n`);
    const result = await evaluate(trained.model, dataset, { tta: { flip: options.flip, scales: options.scales } });
    if (options.json) {
      io.stdout(`${JSON.stringify({ checkpoint: trained.file, split: options.split, ...plainEvaluation(result) })}\n`);
      return;
    }
    io.stdout(`${formatSummaryTable(result.classNames, [{
      name: options.split, classIou: result.metrics.iou.map((value) => (Number.isNaN(value) ? null : value)),
      miou: result.metrics.meanIoU, pixelAccuracy: result.metrics.pixelAccuracy, wallSeconds: result.seconds,
    }])}\n`);
  } finally {
    trained.model.dispose();
  }
}
