/**
 * From a validated RunConfig to the objects a stage trains with: the network config, the optimiser
 * with its parameter groups, the learning-rate schedule, the distortions of Î, and the data splits.
 */
import type { DistortionOptions } from '../augment/photometric.js';
import type { GeometricOptions } from '../augment/geometric.js';
import { chooseLabelled, readSplitFile, subsetDataset } from '../data/splits.js';
import { openDataset, type DatasetSource } from '../data/open-dataset.js';
import type { SegmentationDataset } from '../data/types.js';
import type { DeepLabV3PlusConfig } from '../models/config.js';
import type { Module } from '../nn/index.js';
import { SGD, AdamW, polySchedule, cosineSchedule, withLinearWarmup, type Optimizer, type Schedule } from '../torch/optim/index.js';
import type { Tensor } from '../torch/tensor.js';
import type { OptimizerConfig, RunConfig, StageConfig } from './config.js';

/** The DeepLabV3+ config of a run (null widths = the model's defaults, scaled with the backbone width). */
export function networkConfig(model: RunConfig['model']): DeepLabV3PlusConfig {
  return {
    backbone: { kind: model.backbone, outputStride: model.outputStride, widthMultiplier: model.widthMultiplier },
    ...(model.asppChannels === null ? {} : { asppChannels: model.asppChannels }),
    ...(model.decoderChannels === null ? {} : { decoderChannels: model.decoderChannels }),
    ...(model.reductionChannels === null ? {} : { reductionChannels: model.reductionChannels }),
  };
}

/**
 * Parameters split for weight decay: convolution weights (rank 4) decay; BatchNorm weights and
 * biases and every bias (rank 1) do not — the usual practice (e.g. Goyal et al. 2017, "no bias decay").
 */
export function weightDecayGroups(model: Module): { decay: Tensor[]; noDecay: Tensor[] } {
  const decay: Tensor[] = [];
  const noDecay: Tensor[] = [];
  for (const param of model.parameters()) (param.rank > 1 ? decay : noDecay).push(param);
  return { decay, noDecay };
}

/** The optimiser of a stage over every parameter of `model` (weight decay off for BN and biases). */
export function buildOptimizer(config: OptimizerConfig, model: Module): Optimizer {
  const { decay, noDecay } = weightDecayGroups(model);
  const groups = [{ params: decay }, { params: noDecay, weightDecay: 0 }];
  switch (config.kind) {
    case 'sgd':
      return new SGD(groups, { lr: config.lr, momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay });
    case 'adamw':
      return new AdamW(groups, { lr: config.lr, betas: config.betas, eps: config.eps, weightDecay: config.weightDecay });
    default: {
      const unreachable: never = config;
      throw new Error(`unhandled optimizer ${JSON.stringify(unreachable)}`);
    }
  }
}

/** The learning rate of each step of a stage: warm-up, then poly (power 0.9), cosine or constant decay. */
export function buildSchedule(stage: StageConfig, steps: number): Schedule {
  const baseLr = stage.optimizer.lr;
  const totalSteps = Math.max(1, steps);
  const decay: Schedule = stage.schedule === 'poly' ? polySchedule({ baseLr, totalSteps })
    : stage.schedule === 'cosine' ? cosineSchedule({ baseLr, totalSteps }) : () => baseLr;
  return stage.warmupSteps > 0 ? withLinearWarmup(decay, stage.warmupSteps) : decay;
}

/**
 * SimCLR's colour distortion at strength s (Chen et al. 2020, Appendix A: jitter 0.8s brightness,
 * contrast and saturation, 0.2s hue, p = 0.8; grayscale p = 0.2; blur p = 0.5, sigma 0.1-2). s = 0.5
 * gives DEFAULT_DISTORTIONS; s = 0 switches every distortion off (Î = I).
 */
export function distortionsFor(strength: number): DistortionOptions {
  const probability = strength > 0 ? 0.8 : 0;
  const colour = { probability, strength: 0.8 * strength };
  return {
    brightness: colour,
    contrast: colour,
    saturation: colour,
    hue: { probability, strength: Math.min(0.2 * strength, 0.5) }, // a hue shift beyond half a turn is meaningless
    grayscale: { probability: strength > 0 ? 0.2 : 0 },
    blur: { probability: strength > 0 ? 0.5 : 0, sigma: [0.1, 2.0], kernelSize: null },
  };
}

/** Random scale, crop and flip of training batches. */
export function trainAugmentation(data: RunConfig['data']): GeometricOptions {
  return { scale: data.scale, crop: { width: data.crop.width, height: data.crop.height }, flipProbability: data.flipProbability };
}

function source(data: RunConfig['data'], split: string): DatasetSource {
  return { kind: data.kind, root: data.root, split } as DatasetSource;
}

/** The datasets of a run: the labelled train subset (and its ids), val and test (or null). */
export interface RunData {
  readonly labelled: SegmentationDataset;
  readonly labelledIds: readonly string[];
  readonly trainSize: number;
  readonly val: SegmentationDataset | null;
  readonly test: SegmentationDataset | null;
}

/**
 * Opens the splits of a run and draws the labelled images: from the split file if given, else
 * `labelled` images chosen by the run's seed (nested: a smaller K is a subset of a larger one).
 * `labelledIds` (e.g. from a checkpoint) overrides both, so a resumed run trains on the same images.
 * @throws DatasetError naming the missing file or id; ConfigError for a bad amount.
 */
export async function openRunData(config: RunConfig, labelledIds?: readonly string[]): Promise<RunData> {
  const train = await openDataset(source(config.data, config.data.trainSplit));
  const { labelled: amount, splitFile } = config.data;
  const ids = labelledIds ?? (splitFile !== null ? await readSplitFile(splitFile)
    : amount === 'all' ? train.ids : chooseLabelled(train.ids, config.seed, amount));
  const labelled = ids.length === train.length && labelledIds === undefined && splitFile === null ? train : subsetDataset(train, ids, splitFile ?? undefined);
  const open = async (split: string | null) => (split === null ? null : openDataset(source(config.data, split)));
  return { labelled, labelledIds: [...ids], trainSize: train.length, val: await open(config.data.valSplit), test: config.eval.test ? await open(config.data.testSplit) : null };
}
