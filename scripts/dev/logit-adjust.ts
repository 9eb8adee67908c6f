/**
 * Val (or, with --split test, test) mIoU of fine-tuned runs with and without logit adjustment (Menon et al., "Long-tail learning via logit
 * adjustment", ICLR 2021) at evaluation only: tau * log(pi_c) is subtracted from every pixel's class-c logit,
 * pi being the class shares of the run's own labelled pixels (full resolution, ignore label left out). tau = 1
 * is the balanced-error correction; nothing here is tuned. Val unless --split test is given (the study's single
 * read of test, after its choices are made on val). The offsets come from the library (finetune.logitAdjustment's
 * own code, src/train/logit-adjustment.ts), so these figures are what `eval --logit-adjustment` gives. One JSON line per run,
 * then per-class IoU for both, then, over the runs given, each method's mean and its paired difference with ce by seed
 * (plain and adjusted). --from <jsonl> prints that summary again from the JSON lines of an earlier call, without models.
 * For docs/results/NOTES.md (session 11).
 *   node --import tsx scripts/dev/logit-adjust.ts [--tau 1] [--split val|test] <run-dir>...
 *   node --import tsx scripts/dev/logit-adjust.ts --from <saved.jsonl>
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { meanAndStd } from '../../src/report/aggregate.js';
import { describeGain } from '../../src/report/paired-stats.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { openRunData } from '../../src/train/build.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { parseRunConfig } from '../../src/train/config.js';
import { buildFinetuneModel } from '../../src/train/finetune.js';
import { restoredModel } from '../../src/train/load-model.js';
import { classPixels, logitOffsets } from '../../src/train/logit-adjustment.js';
import { percent as pct, signedPercent as signed } from '../../src/report/summary.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { tau: { type: 'string', default: '1' }, split: { type: 'string', default: 'val' }, from: { type: 'string' } } });
const tau = Number(values.tau);
const split = values.split;
if ((positionals.length === 0) === (values.from === undefined) || !(tau >= 0) || (split !== 'val' && split !== 'test')) {
  console.error('usage: logit-adjust.ts [--tau 1] [--split val|test] <run-dir>... | logit-adjust.ts --from <saved.jsonl>');
  process.exit(2);
}

interface Line { readonly method: string; readonly seed: number; readonly plain: { mIoU: number }; readonly adjusted: { mIoU: number } }

/** The method's runs paired by seed with ce's: [seed, its line, ce's line]. */
function pairs(lines: readonly Line[], method: string): [Line, Line][] {
  return lines.filter((line) => line.method === method).sort((a, b) => a.seed - b.seed).flatMap((line) => {
    const reference = lines.find((other) => other.method === 'ce' && other.seed === line.seed);
    return reference === undefined ? [] : [[line, reference] as [Line, Line]];
  });
}

/**
 * Each method's mean over its runs and its difference with ce paired by seed, plain and adjusted (mean, sd, standard
 * error, 95% t-interval); then, per seed, how much more the adjustment gave the method than ce.
 */
function summarise(lines: readonly Line[]): void {
  const methods = [...new Set(lines.map((line) => line.method))];
  for (const kind of ['plain', 'adjusted'] as const) {
    console.log(`${kind}:`);
    for (const method of methods) {
      const own = lines.filter((line) => line.method === method).sort((a, b) => a.seed - b.seed);
      const stats = meanAndStd(own.map((line) => line[kind].mIoU));
      let text = `  ${method.padEnd(8)} ${own.map((line) => `s${line.seed} ${pct(line[kind].mIoU)}`).join(', ')}  mean ${pct(stats?.mean)}`;
      const differences = method === 'ce' ? [] : pairs(lines, method).map(([line, reference]) => line[kind].mIoU - reference[kind].mIoU);
      const gain = meanAndStd(differences);
      if (gain !== null) text += `; ${method} - ce paired over ${gain.n} seeds ${describeGain(gain)}`;
      console.log(text);
    }
  }
  for (const method of methods.filter((name) => name !== 'ce')) {
    const extra = pairs(lines, method).map(([line, reference]) =>
      [line.seed, (line.adjusted.mIoU - line.plain.mIoU) - (reference.adjusted.mIoU - reference.plain.mIoU)] as const);
    console.log(`adjustment's gain for ${method} minus its gain for ce, by seed: ${extra.map(([seed, value]) => `s${seed} ${signed(value)}`).join(', ')}`
      + ` (positive on ${extra.filter(([, value]) => value > 0).length} of ${extra.length})`);
  }
}

if (values.from !== undefined) {
  summarise(readFileSync(values.from, 'utf8').split('\n').filter((text) => text.startsWith('{')).map((text) => JSON.parse(text) as Line));
  process.exit(0);
}
const lines: Line[] = [];

for (const runDir of positionals) {
  const checkpoint = readCheckpoint(runDir, { name: 'finetune' });
  const config = parseRunConfig(checkpoint.meta.config, checkpoint.file);
  const data = await openRunData({ ...config, eval: { ...config.eval, test: split === 'test' } }, checkpoint.meta.splitIds);
  const evaluated = split === 'test' ? data.test : data.val;
  if (evaluated === null) throw new Error(`${runDir}: the run has no ${split} split`);
  const classes = data.labelled.numClasses;
  // The library's own path (src/train/logit-adjustment.ts): counts of the run's labelled pixels, offsets -tau log(share).
  const counts = await classPixels(data.labelled);
  const total = counts.reduce((sum, count) => sum + count, 0);
  const model = restoredModel(checkpoint, buildFinetuneModel(config, classes));
  const plain = await evaluate(model, evaluated, { workers: 0 });
  model.head.setLogitOffset(logitOffsets({ tau, pixels: counts }));
  const adjusted = await evaluate(model, evaluated, { workers: 0 });
  model.dispose();
  checkpoint.dispose();
  const names = evaluated.classNames;
  const line = { runDir, method: config.method, seed: config.seed, step: checkpoint.meta.step, split, tau, prior: counts.map((count) => count / total),
    plain: { mIoU: plain.metrics.meanIoU, iou: plain.metrics.iou }, adjusted: { mIoU: adjusted.metrics.meanIoU, iou: adjusted.metrics.iou } };
  lines.push(line);
  console.log(JSON.stringify(line));
  console.log(`${runDir}: ${split} mIoU ${pct(plain.metrics.meanIoU)} -> ${pct(adjusted.metrics.meanIoU)} (tau ${tau})`);
  console.log(names.map((name, c) => `  ${name.padEnd(11)} ${pct(plain.metrics.iou[c]).padStart(5)} -> ${pct(adjusted.metrics.iou[c]).padStart(5)}  prior ${(100 * counts[c]! / total).toFixed(2)}%`).join('\n'));
}
summarise(lines);
