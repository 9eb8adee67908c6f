/** The training pipeline: configs, the two stages, runs, checkpoints, the sweep. */
export { parseRunConfig, runSchema, METHODS, CHECKPOINT_WRITES, type RunConfig, type RunConfigInput, type Method, type CheckpointWrites } from './config.js';
export { PRESETS, preset } from './presets.js';
export { runTraining, finetuneSteps, type RunJob, type RunResult, type RunEvents, type StageSelection } from './run.js';
export { runStage, type StageSpec, type StepRecord, type StageName } from './loop.js';
export { PretrainModel, pretrainLoss } from './pretrain.js';
export { buildFinetuneModel, finetuneLoss, segmentationLoss, loadPretrainedNetwork, type FinetuneModel } from './finetune.js';
export { downsampleLabels } from './labels.js';
export { loadTrainedModel, type TrainedModel } from './load-model.js';
export {
  saveCheckpoint, readCheckpoint, restoreCheckpoint, findLatestCheckpoint, resumeFromCheckpoint,
  type CheckpointContent, type LoadedCheckpoint, type RestoredState,
} from './checkpoint.js';
export { CheckpointWriter, SyncCheckpointWriter, type CheckpointSink, type CheckpointWriterOptions } from './checkpoint-writer.js';
export { parseSweepConfig, sweepPreset, type SweepConfig } from './sweep-config.js';
