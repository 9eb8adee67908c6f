/**
 * The nearest-class-mean probe of src/train/feature-probe.ts over run directories: mIoU of the
 * prototype classifier on each run's labelled images (train) and on val, for the chosen features.
 * Val only: it never opens test. One JSON line per run and feature, then a table.
 *   node --import tsx scripts/dev/feature-probe.ts [--features pretrain-head,pretrain-decoder,finetune-decoder] <run-dir>...
 */
import { parseArgs } from 'node:util';
import { PROBED_FEATURES, probeRun, type ProbedFeatures } from '../../src/train/feature-probe.js';
import { percent as pct } from '../../src/report/summary.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { features: { type: 'string', default: PROBED_FEATURES.join(',') } } });
const features = (values.features ?? '').split(',') as ProbedFeatures[];
const unknown = features.filter((name) => !(PROBED_FEATURES as readonly string[]).includes(name));
if (positionals.length === 0 || unknown.length > 0) {
  console.error(`usage: feature-probe.ts [--features ${PROBED_FEATURES.join(',')}] <run-dir>...${unknown.length > 0 ? `\nunknown features: ${unknown.join(', ')}` : ''}`);
  process.exit(2);
}
const table: string[] = ['| run | features | step | train mIoU | train pixel acc | train, per-image prototypes: mIoU | val mIoU | val pixel acc |', '|---|---|---:|---:|---:|---:|---:|---:|'];
for (const runDir of positionals) {
  for (const name of features) {
    try {
      const result = await probeRun(runDir, name);
      console.log(JSON.stringify({ runDir, features: name, step: result.step, train: { mIoU: result.train.meanIoU, pixelAccuracy: result.train.pixelAccuracy, iou: result.train.iou }, trainPerImage: { mIoU: result.trainPerImage.meanIoU, pixelAccuracy: result.trainPerImage.pixelAccuracy },
        val: result.val && { mIoU: result.val.meanIoU, pixelAccuracy: result.val.pixelAccuracy, iou: result.val.iou }, prototypePixels: result.prototypePixels }));
      table.push(`| ${runDir} | ${name} | ${result.step} | ${pct(result.train.meanIoU)} | ${pct(result.train.pixelAccuracy)} | ${pct(result.trainPerImage.meanIoU)} | ${pct(result.val?.meanIoU)} | ${pct(result.val?.pixelAccuracy)} |`);
    } catch (error) {
      console.error(`${runDir} ${name}: ${(error as Error).message}`);
    }
  }
}
console.log(table.join('\n'));
