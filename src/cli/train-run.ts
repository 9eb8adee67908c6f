/** Runs a parsed training command: the run (and its baseline), summary.json, curves.svg, the summary table. */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import type { EvaluationResult } from '../eval/index.js';
import { formatSummaryTable, type RunSummary } from '../report/summary.js';
import { trainingCurvesSvg, type MetricRecord } from '../report/curves.js';
import { CURVES_FILE, SUMMARY_FILE, readMetrics, writeFileAtomic } from '../train/run-dir.js';
import { runTraining, type RunResult } from '../train/run.js';
import type { RunConfig } from '../train/config.js';
import type { CliIO } from './args.js';
import { progressEvents } from './progress.js';
import { baselineDir, type TrainOptions } from './train.js';
import { joinIfLaunched, launchLocalRanks } from './launch.js';
import { EXIT_CODES } from './exit-codes.js';
import type { DataParallel } from '../train/data-parallel.js';

/** The run's metrics as curve points (loss per logged step, val mIoU per evaluation). */
function curveRecords(runDir: string): MetricRecord[] {
  return readMetrics(runDir).flatMap((record): MetricRecord[] => {
    const stage = record.stage === 'pretrain' ? 'pretrain' : 'finetune';
    if (record.kind === 'step' && typeof record.loss === 'number') return [{ stage, step: record.step, loss: record.loss }];
    if (record.kind === 'eval' && record.split === 'val' && typeof record.mIoU === 'number') return [{ stage, step: record.step, valMiou: record.mIoU }];
    return [];
  });
}

/** An evaluation as plain JSON: metrics, per-class IoU by name (null = class absent), confusion matrix. */
export function plainEvaluation(result: EvaluationResult | null) {
  if (result === null) return null;
  const { metrics } = result;
  return {
    mIoU: metrics.meanIoU, pixelAccuracy: metrics.pixelAccuracy, meanClassAccuracy: metrics.meanClassAccuracy,
    frequencyWeightedIoU: metrics.frequencyWeightedIoU,
    classIoU: Object.fromEntries(result.classNames.map((name, i) => [name, Number.isNaN(metrics.iou[i]) ? null : metrics.iou[i]])),
    images: result.images, seconds: result.seconds, confusion: result.confusion,
  };
}

/** summary.json of a run (NaN written as null). */
export function summaryJson(result: RunResult) {
  return {
    method: result.method, labelled: result.labelled, bestValMiou: result.bestValMiou,
    val: plainEvaluation(result.val), test: plainEvaluation(result.test), seconds: result.seconds,
  };
}

async function finish(result: RunResult): Promise<void> {
  writeFileAtomic(join(result.runDir, SUMMARY_FILE), `${JSON.stringify(summaryJson(result), null, 2)}\n`);
  writeFileSync(join(result.runDir, CURVES_FILE), await trainingCurvesSvg(curveRecords(result.runDir)));
}

function column(name: string, result: RunResult): RunSummary | null {
  const evaluation = result.test ?? result.val;
  if (evaluation === null) return null;
  return {
    name: `${name} (${result.test !== null ? 'test' : 'val'})`,
    classIou: evaluation.metrics.iou.map((value) => (Number.isNaN(value) ? null : value)),
    miou: evaluation.metrics.meanIoU, pixelAccuracy: evaluation.metrics.pixelAccuracy, wallSeconds: result.seconds.total,
  };
}

/**
 * Runs `train`, `pretrain` or `finetune` as parsed, with progress on stderr and results on stdout. With
 * --nproc N it starts N ranks of itself instead; as a rank (WORLD_SIZE > 1 in the environment) it trains
 * data-parallel, and only rank 0 prints and writes.
 */
export async function runTrainCommand(options: TrainOptions, io: CliIO): Promise<void> {
  if (options.nproc > 1) {
    return launchLocalRanks({ argv: options.rankArgv, nproc: options.nproc, exitCodes: EXIT_CODES,
      ...(options.config.threads === null ? {} : { threadsPerRank: options.config.threads }) }, io);
  }
  const joined = joinIfLaunched(options.distTimeoutMs);
  try {
    const parallel: DataParallel | undefined = joined === undefined ? undefined : { group: joined.group, syncBatchNorm: options.syncBn };
    if (joined === undefined || joined.group.rank === 0) return await trainAndReport(options, io, parallel);
    await trainAndReport(options, { stdout: () => undefined, stderr: () => undefined, ...(io.signal === undefined ? {} : { signal: io.signal }) }, parallel);
  } finally {
    joined?.group.destroy();
  }
}

async function trainAndReport(options: TrainOptions, io: CliIO, parallel: DataParallel | undefined): Promise<void> {
  const tty = io.isTTY === true;
  const { config } = options;
  const writes = parallel === undefined || parallel.group.rank === 0;
  io.stderr(`contraseg ${options.command}: run directory ${options.runDir}${parallel === undefined ? '' : ` (${parallel.group.worldSize} processes)`}\n`);
  const main = await runTraining({
    config, runDir: options.runDir, resume: options.resume, stages: options.stages,
    ...(options.pretrained === undefined ? {} : { pretrained: options.pretrained }),
    ...(writes ? { events: progressEvents(io, config.method, { tty, every: config.logEvery }) } : {}),
    ...(io.signal === undefined ? {} : { signal: io.signal }),
    ...(parallel === undefined ? {} : { dataParallel: parallel }),
  });
  if (writes) await finish(main);
  const results: [string, RunResult][] = [[config.method, main]];
  if (options.command === 'train' && config.baseline && config.method !== 'ce') {
    const baselineConfig: RunConfig = { ...config, method: 'ce', baseline: false };
    const baseline = await runTraining({
      config: baselineConfig, runDir: baselineDir(options.runDir), resume: options.resume, stages: 'both',
      ...(writes ? { events: progressEvents(io, 'ce baseline', { tty, every: config.logEvery }) } : {}),
      ...(io.signal === undefined ? {} : { signal: io.signal }),
      ...(parallel === undefined ? {} : { dataParallel: parallel }),
    });
    if (writes) await finish(baseline);
    results.push(['ce', baseline]);
  }
  if (options.json) {
    io.stdout(`${JSON.stringify({ runDir: options.runDir, runs: Object.fromEntries(results.map(([name, result]) => [name, summaryJson(result)])) })}\n`);
    return;
  }
  if (options.stages === 'pretrain') {
    io.stdout(`stage 1 done: ${config.pretrain.steps} steps in ${main.seconds.pretrain.toFixed(0)} s; checkpoints in ${join(options.runDir, 'checkpoints')}\n` +
      `next: contraseg finetune --from ${options.runDir} --out ${options.runDir}-finetune\n`);
    return;
  }
  const columns = results.map(([name, result]) => column(name, result)).filter((c): c is RunSummary => c !== null);
  const classNames = (main.test ?? main.val)?.classNames ?? [];
  if (columns.length > 0) io.stdout(`${formatSummaryTable(classNames, columns)}\n`);
  const [first, second] = results;
  if (first !== undefined && second !== undefined) {
    const a = (first[1].test ?? first[1].val)?.metrics.meanIoU;
    const b = (second[1].test ?? second[1].val)?.metrics.meanIoU;
    if (a !== undefined && b !== undefined) {
      io.stdout(`${first[0]}: ${(100 * a).toFixed(1)} mIoU vs cross-entropy baseline ${(100 * b).toFixed(1)} ` +
        `(${a >= b ? '+' : ''}${(100 * (a - b)).toFixed(1)} points), ${main.labelled} labelled images, same total steps\n`);
    }
  }
  io.stdout(`run directory: ${options.runDir}\n`);
}
