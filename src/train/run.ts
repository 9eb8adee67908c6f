/**
 * One run = one config -> one run directory: stage 1 (contrastive pretraining, unless the method is
 * `ce`), stage 2 (softmax fine-tuning), val evaluation with the best checkpoint kept, and the final
 * val/test figures. Resumable at any checkpoint: `resume` continues the latest stage exactly.
 */
import { loadavg } from 'node:os';
import { deriveSeed } from '../augment/rng.js';
import { createLoader, type Batch, type LoaderPosition, type PairBatch } from '../data/loader.js';
import type { SegmentationDataset } from '../data/types.js';
import { evaluate, type EvaluationResult } from '../eval/index.js';
import { loadBackboneWeights } from '../models/build.js';
import type { Module } from '../nn/index.js';
import { tensor } from '../torch/creation.js';
import { manualSeed } from '../torch/creation.js';
import { keep, setNumThreads } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import type { Optimizer } from '../torch/optim/index.js';
import { ConfigError } from '../errors.js';
import { buildOptimizer, buildSchedule, distortionsFor, openRunData, trainAugmentation, type RunData } from './build.js';
import { MODEL_PREFIX, findLatestCheckpoint, readCheckpoint, resumeFromCheckpoint } from './checkpoint.js';
import { CheckpointWriter, SyncCheckpointWriter, type CheckpointSink } from './checkpoint-writer.js';
import type { RunConfig } from './config.js';
import { buildFinetuneModel, finetuneLoss, loadPretrainedNetwork, type FinetuneModel } from './finetune.js';
import { classPixels, logitOffsets, type LogitAdjustment } from './logit-adjustment.js';
import { runStage, type StageName, type StepRecord } from './loop.js';
import { PretrainModel, pretrainLoss, type PretrainStats } from './pretrain.js';
import { appendMetrics, initRunDir, truncateMetrics } from './run-dir.js';
import { checkResumeWorldSize, gradientAveraging, loaderShard, parallelMetrics, startTogether, writesRunFiles, type DataParallel } from './data-parallel.js';

/** What a caller (the CLI) watches. */
export interface RunEvents {
  onStageStart?(stage: StageName, steps: number, startStep: number): void;
  onStep?(record: StepRecord): void;
  onStageEnd?(stage: StageName): void;
  onEvalStart?(split: string, images: number): void;
  onEvalProgress?(done: number, total: number): void;
  onMessage?(text: string): void;
}

/** What a run returns (also written to summary.json by the caller). */
export interface RunResult {
  readonly runDir: string;
  readonly method: RunConfig['method'];
  readonly labelled: number;
  readonly val: EvaluationResult | null;
  readonly test: EvaluationResult | null;
  readonly bestValMiou: number | null;
  readonly seconds: { readonly pretrain: number; readonly finetune: number; readonly total: number };
}

/** Which stages a command runs. */
export type StageSelection = 'both' | 'pretrain' | 'finetune';

export interface RunJob {
  readonly config: RunConfig;
  readonly runDir: string;
  /** Continue from the run directory's latest checkpoint. */
  readonly resume: boolean;
  readonly stages: StageSelection;
  /** `finetune` from another run's stage-1 checkpoint (a run dir or checkpoint path). */
  readonly pretrained?: string;
  readonly events?: RunEvents;
  /** Aborting it stops the run after the current step, with a checkpoint (InterruptedError). */
  readonly signal?: AbortSignal;
  /** This process's rank in a data-parallel job (src/train/data-parallel.ts); only rank 0 writes files. */
  readonly dataParallel?: DataParallel;
}

/** Steps of stage 2: for `ce` the whole budget (pretrain.steps + finetune.steps), so every method gets the same total. */
export function finetuneSteps(config: RunConfig): number {
  return config.method === 'ce' ? config.pretrain.steps + config.finetune.steps : config.finetune.steps;
}

function evaluation(config: RunConfig, events: RunEvents | undefined) {
  return async (model: FinetuneModel, dataset: SegmentationDataset, split: string): Promise<EvaluationResult> => {
    events?.onEvalStart?.(split, dataset.length);
    return evaluate(model, dataset, {
      tta: { flip: config.eval.flip, scales: config.eval.scales },
      ...(config.data.workers === null ? {} : { workers: config.data.workers }),
      onProgress: (done, total) => events?.onEvalProgress?.(done, total),
    });
  };
}

/** Saves a checkpoint (durable at once, or after writer.flush() when written in the background; see checkpoint-writer.ts). */
function save(writer: CheckpointSink, runDir: string, series: string, model: Module, optimizer: Optimizer, stage: StageName, step: number,
  position: LoaderPosition, config: RunConfig, data: RunData, metrics: Record<string, unknown> = {}): Promise<string> {
  const classes = { names: data.labelled.classNames, colours: data.labelled.colours }; // what eval and predict label and paint with
  return writer.save(runDir, series, { model, optimizer, step, stage, loaderPosition: position, config, splitIds: data.labelledIds, metrics: { ...metrics, classes } });
}

/**
 * A step as metrics.jsonl records it: stage 1 adds the batch's contrastive loss floor (contrastiveLossFloor);
 * every logged step adds `load`, the machine's 1-minute load average then, so that a time read from the
 * log can be told to have been measured beside other work (src/train/sweep-time.ts).
 */
type LoggedStep = StepRecord & { readonly lossFloor?: number };

function onStep(runDir: string, config: RunConfig, events: RunEvents | undefined, writes = true) {
  return (record: LoggedStep): void => {
    if (writes && (record.step % config.logEvery === 0 || record.step === record.steps || record.skipped === true)) appendMetrics(runDir, { kind: 'step', ...record, load: Math.round(loadavg()[0] * 100) / 100 });
    events?.onStep?.(record);
  };
}

async function pretrainStage(job: RunJob, data: RunData, checkpoints: CheckpointSink): Promise<number> {
  const { config, runDir, events } = job;
  const steps = config.pretrain.steps;
  const writes = writesRunFiles(job.dataParallel);
  manualSeed(deriveSeed(config.seed, 1));
  const model = new PretrainModel(config, data.labelled.numClasses);
  if (config.model.backboneWeights !== null) loadBackboneWeights(model.network, config.model.backboneWeights);
  if (config.model.channelsLast) model.setMemoryFormat('channels_last');
  const optimizer = buildOptimizer(config.pretrain.optimizer, model);
  const loader = createLoader(data.labelled, {
    batchSize: config.batchSize, seed: deriveSeed(config.seed, 1), augment: trainAugmentation(config.data), repeatToFill: true,
    views: { kind: 'pair', distortions: distortionsFor(config.pretrain.distortionStrength) },
    ...(config.data.workers === null ? {} : { workers: config.data.workers }), ...loaderShard(job.dataParallel),
  });
  const stats: PretrainStats = { lossFloor: 0 };
  const log = onStep(runDir, config, events, writes);
  const started = performance.now();
  try {
    let startStep = 0;
    if (job.resume) {
      if (findLatestCheckpoint(runDir, { name: 'pretrain' }) !== undefined) startStep = resumeFromCheckpoint(runDir, { model, optimizer }, { name: 'pretrain' }).step;
      // without a checkpoint too: a run killed before its first one logged steps that are now done again
      if (startStep < steps && writes) truncateMetrics(runDir, 'pretrain', startStep, ['finetune']); // a finished stage 1 keeps stage 2's log
    }
    startTogether(job.dataParallel, model);
    model.train();
    events?.onStageStart?.('pretrain', steps, startStep);
    await runStage<PairBatch>({
      stage: 'pretrain', steps, startStep, loader, optimizer, schedule: buildSchedule(config.pretrain, steps), gradClip: config.pretrain.gradClip,
      lossOf: (batch) => pretrainLoss(model, batch, config.pretrain, stats),
      checkpointEvery: config.checkpointEvery,
      saveCheckpoint: (step, position) => writes ? save(checkpoints, runDir, 'pretrain', model, optimizer, 'pretrain', step, position, config, data, parallelMetrics(job.dataParallel)) : undefined,
      flushCheckpoints: () => checkpoints.flush(),
      evaluateEvery: 0,
      onStep: (record) => log(config.pretrain.loss === 'official' ? record : { ...record, lossFloor: stats.lossFloor }),
      ...gradientAveraging(job.dataParallel, optimizer.params),
      nanGuard: { policy: config.nanPolicy, maxSkips: config.maxNanSkips, buffers: model.buffers() },
      ...(job.signal === undefined ? {} : { signal: job.signal }),
    });
    events?.onStageEnd?.('pretrain');
  } finally {
    await loader.dispose();
    optimizer.dispose();
    model.dispose();
  }
  return (performance.now() - started) / 1000;
}

/** The stage-1 weights a fine-tuning run starts from: this run's, or `pretrained`'s. */
function loadStage1(job: RunJob, model: FinetuneModel): void {
  const source = job.pretrained ?? job.runDir;
  const checkpoint = readCheckpoint(source, { name: 'pretrain' });
  try {
    if (checkpoint.meta.stage !== 'pretrain') throw new ConfigError(`${checkpoint.file} is a ${checkpoint.meta.stage} checkpoint; fine-tuning starts from a pretrain checkpoint`);
    const stripped = new Map([...checkpoint.tensors].filter(([key]) => key.startsWith(MODEL_PREFIX)).map(([key, value]) => [key.slice(MODEL_PREFIX.length), value] as const));
    loadPretrainedNetwork(model, stripped);
  } finally {
    checkpoint.dispose();
  }
}

interface FinetuneOutcome {
  readonly model: FinetuneModel;
  readonly seconds: number;
  /** The val evaluation after the last step, when the loop ran it. */
  readonly finalVal: EvaluationResult | null;
}

async function finetuneStage(job: RunJob, data: RunData, bestSoFar: { value: number | null }, checkpoints: CheckpointSink): Promise<FinetuneOutcome> {
  const { config, runDir, events } = job;
  const steps = finetuneSteps(config);
  const writes = writesRunFiles(job.dataParallel);
  manualSeed(deriveSeed(config.seed, 2));
  const model = buildFinetuneModel(config, data.labelled.numClasses);
  const evaluateOn = evaluation(config, events);
  const classWeights: Tensor | null = config.finetune.classWeights === null ? null : keep(tensor(config.finetune.classWeights, [config.finetune.classWeights.length]));
  let optimizer: Optimizer | undefined;
  let finalVal: EvaluationResult | null = null;
  const loader = createLoader(data.labelled, {
    batchSize: config.batchSize, seed: deriveSeed(config.seed, 2), augment: trainAugmentation(config.data), repeatToFill: true, views: { kind: 'single' },
    ...(config.data.workers === null ? {} : { workers: config.data.workers }), ...loaderShard(job.dataParallel),
  });
  const started = performance.now();
  try {
    if (classWeights !== null && classWeights.shape[0] !== data.labelled.numClasses) {
      throw new ConfigError(`finetune.classWeights has ${classWeights.shape[0]} entries but ${data.labelled.name} has ${data.labelled.numClasses} classes`);
    }
    if (config.method !== 'ce') loadStage1(job, model);
    else if (config.model.backboneWeights !== null) loadBackboneWeights(model.network, config.model.backboneWeights);
    if (config.model.channelsLast) model.setMemoryFormat('channels_last');
    optimizer = buildOptimizer(config.finetune.optimizer, model);
    const stageOptimizer = optimizer;
    // Counted in every run, so that eval can apply another tau later; the classifier adds the offsets in eval mode only.
    const adjustment: LogitAdjustment = { tau: config.finetune.logitAdjustment, pixels: await classPixels(data.labelled) };
    if (adjustment.tau > 0) model.head.setLogitOffset(logitOffsets(adjustment));
    const recorded = { logitAdjustment: { ...adjustment, pixels: [...adjustment.pixels] } };
    let startStep = 0;
    if (job.resume) {
      if (findLatestCheckpoint(runDir, { name: 'finetune' }) !== undefined) startStep = resumeFromCheckpoint(runDir, { model, optimizer }, { name: 'finetune' }).step;
      if (writes) truncateMetrics(runDir, 'finetune', startStep, []); // also from 0: see stage 1
    }
    startTogether(job.dataParallel, model);
    model.train();
    events?.onStageStart?.('finetune', steps, startStep);
    await runStage<Batch>({
      stage: 'finetune', steps, startStep, loader, optimizer, schedule: buildSchedule(config.finetune, steps), gradClip: config.finetune.gradClip,
      lossOf: (batch) => finetuneLoss(model, batch, classWeights),
      checkpointEvery: config.checkpointEvery,
      saveCheckpoint: (step, position) => writes ? save(checkpoints, runDir, 'finetune', model, stageOptimizer, 'finetune', step, position, config, data, { ...recorded, ...parallelMetrics(job.dataParallel) }) : undefined,
      flushCheckpoints: () => checkpoints.flush(),
      evaluateEvery: config.eval.every,
      ...(data.val === null ? {} : {
        evaluate: async (step: number) => {
          const result = await evaluateOn(model, data.val as SegmentationDataset, 'val');
          if (step === steps) finalVal = result;
          const miou = result.metrics.meanIoU;
          if (!writes) return; // every rank evaluates (same model, so no rank waits in a collective meanwhile); rank 0 records
          appendMetrics(runDir, { kind: 'eval', stage: 'finetune', step, split: 'val', mIoU: miou, pixelAccuracy: result.metrics.pixelAccuracy, seconds: result.seconds });
          if (Number.isFinite(miou) && (bestSoFar.value === null || miou > bestSoFar.value)) {
            bestSoFar.value = miou;
            await save(checkpoints, runDir, 'best', model, stageOptimizer, 'finetune', step, { epoch: 0, batch: 0 }, config, data, { valMiou: miou, ...recorded, ...parallelMetrics(job.dataParallel) });
            await checkpoints.flush(); // a best checkpoint is durable before training goes on
          }
        },
      }),
      onStep: onStep(runDir, config, events, writes),
      ...gradientAveraging(job.dataParallel, stageOptimizer.params),
      nanGuard: { policy: config.nanPolicy, maxSkips: config.maxNanSkips, buffers: model.buffers() },
      ...(job.signal === undefined ? {} : { signal: job.signal }),
    });
    events?.onStageEnd?.('finetune');
    return { model, seconds: (performance.now() - started) / 1000, finalVal };
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    await loader.dispose();
    optimizer?.dispose();
    classWeights?.dispose();
  }
}

function bestValue(runDir: string): number | null {
  if (findLatestCheckpoint(runDir, { name: 'best' }) === undefined) return null;
  const checkpoint = readCheckpoint(runDir, { name: 'best' });
  try {
    const value = checkpoint.meta.metrics.valMiou;
    return typeof value === 'number' ? value : null;
  } finally {
    checkpoint.dispose();
  }
}

/**
 * Runs the selected stages of a run in `job.runDir` and evaluates the final model on val and test.
 * @throws ConfigError, DatasetError, CheckpointError, NumericalError as the parts do.
 */
export async function runTraining(job: RunJob): Promise<RunResult> {
  const { config, runDir } = job;
  if (job.dataParallel !== undefined && config.nanPolicy === 'skip') {
    // A rank skipping a step the others take would pair its next all-reduce with their current one.
    throw new ConfigError("nanPolicy 'skip' is not available with data-parallel training: the ranks could skip different steps. Use --nan-policy stop (the default)");
  }
  if (config.threads !== null) setNumThreads(config.threads);
  const started = performance.now();
  let labelledIds: string[] | undefined;
  if (job.resume) {
    const latest = findLatestCheckpoint(runDir, { name: 'finetune' }) ?? findLatestCheckpoint(runDir, { name: 'pretrain' });
    if (latest !== undefined) {
      const checkpoint = readCheckpoint(latest);
      try {
        checkResumeWorldSize(job.dataParallel, checkpoint.meta.metrics, checkpoint.file);
        labelledIds = [...checkpoint.meta.splitIds];
      } finally {
        checkpoint.dispose();
      }
    }
  }
  const data = await openRunData(config, labelledIds);
  if (writesRunFiles(job.dataParallel)) initRunDir(runDir, config, data.labelledIds);
  // config.checkpointWrites: on this thread, or one writer thread for the run's stages (checkpoint-writer.ts)
  const checkpoints: CheckpointSink = config.checkpointWrites === 'background' ? new CheckpointWriter() : new SyncCheckpointWriter();
  if (writesRunFiles(job.dataParallel)) checkpoints.open();
  try {
    return await trainStages(job, data, checkpoints, started);
  } finally {
    await checkpoints.close(); // every stage flushed its checkpoints: this only stops the thread
  }
}

/** The selected stages and the final val/test evaluation of runTraining. */
async function trainStages(job: RunJob, data: RunData, checkpoints: CheckpointSink, started: number): Promise<RunResult> {
  const { config, runDir } = job;
  const runsPretrain = config.method !== 'ce' && job.stages !== 'finetune';
  const pretrainSeconds = runsPretrain ? await pretrainStage(job, data, checkpoints) : 0;
  // Rank 0's stage-1 checkpoint is durable once its pretrainStage returns (flushed); the others read it next.
  if (runsPretrain && job.stages !== 'pretrain') job.dataParallel?.group.barrier();
  if (job.stages === 'pretrain') {
    return { runDir, method: config.method, labelled: data.labelled.length, val: null, test: null, bestValMiou: null,
      seconds: { pretrain: pretrainSeconds, finetune: 0, total: (performance.now() - started) / 1000 } };
  }
  const best = { value: job.resume ? bestValue(runDir) : null };
  const { model, seconds: finetuneSeconds, finalVal } = await finetuneStage(job, data, best, checkpoints);
  try {
    const evaluateOn = evaluation(config, job.events);
    const val = finalVal ?? (data.val === null ? null : await evaluateOn(model, data.val, 'val'));
    const test = data.test === null ? null : await evaluateOn(model, data.test, 'test');
    if (test !== null && writesRunFiles(job.dataParallel)) appendMetrics(runDir, { kind: 'eval', stage: 'finetune', step: finetuneSteps(config), split: 'test', mIoU: test.metrics.meanIoU, pixelAccuracy: test.metrics.pixelAccuracy, seconds: test.seconds });
    return {
      runDir, method: config.method, labelled: data.labelled.length, val, test, bestValMiou: best.value,
      seconds: { pretrain: pretrainSeconds, finetune: finetuneSeconds, total: (performance.now() - started) / 1000 },
    };
  } finally {
    model.dispose();
  }
}
