/**
 * How well a run's features separate the classes, on its labelled images and on val: the
 * nearest-class-mean probe (src/eval/prototype-probe.ts) fitted on the labelled images' pixels and
 * scored on them and on val, at the features' stride (4), on whole images at native resolution.
 *
 * It answers the question a stage-1 loss curve cannot: has contrastive pretraining separated the
 * classes of the images it saw (train), and does that separation hold on images it did not see (val)?
 * The same probe on a cross-entropy model's decoder features is the yardstick.
 */
import type { SegmentationDataset } from '../data/types.js';
import { ConfusionMatrix, type SegmentationMetrics } from '../eval/confusion.js';
import { PrototypeProbe } from '../eval/prototype-probe.js';
import { ConfigError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { noGrad, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { openRunData, type RunData } from './build.js';
import { readCheckpoint } from './checkpoint.js';
import { parseRunConfig } from './config.js';
import { buildFinetuneModel } from './finetune.js';
import { restoredModel } from './load-model.js';
import { imageTensor, labelledPixelRows, type PixelRows } from './pixel-rows.js';
import { PretrainModel } from './pretrain.js';

/** Which features of a run: stage 1's projection-head embeddings or its decoder features, or the fine-tuned decoder's. */
export const PROBED_FEATURES = ['pretrain-head', 'pretrain-decoder', 'finetune-decoder'] as const;
export type ProbedFeatures = (typeof PROBED_FEATURES)[number];

/** What {@link probeRun} measured. */
export interface FeatureProbeResult {
  readonly features: ProbedFeatures;
  /** The checkpoint probed, and its step. */
  readonly file: string;
  readonly step: number;
  /** Probe scored on the labelled images its prototypes came from. */
  readonly train: SegmentationMetrics;
  /**
   * Probe fitted on each labelled image alone and scored on that image: the per-image separation that
   * the within-image loss asks for (its positives never leave the image), beside `train`'s global one.
   */
  readonly trainPerImage: SegmentationMetrics;
  /** Probe scored on val (null if the run has no val split). */
  readonly val: SegmentationMetrics | null;
  /** Labelled pixels per class that made the prototypes. */
  readonly prototypePixels: number[];
}

type Embed = (images: Tensor) => Tensor;

/** Calls `visit` with each image's labelled pixel rows, one forward pass per image. */
async function forEachRows(dataset: SegmentationDataset, embed: Embed, visit: (rows: PixelRows) => void): Promise<void> {
  for (let index = 0; index < dataset.length; index++) {
    const sample = await dataset.get(index);
    visit(noGrad(() => scope(() => labelledPixelRows(embed(imageTensor(sample)), sample))));
  }
}

function addScores(confusion: ConfusionMatrix, probe: PrototypeProbe, { rows, labels }: PixelRows): void {
  confusion.addArrays(probe.classify(rows), labels);
}

async function score(dataset: SegmentationDataset, embed: Embed, probe: PrototypeProbe): Promise<SegmentationMetrics> {
  const confusion = new ConfusionMatrix(probe.numClasses);
  await forEachRows(dataset, embed, (image) => { addScores(confusion, probe, image); });
  return confusion.metrics();
}

/** The run's data and the model of the checkpoint series that holds the asked features, in eval mode. */
async function openProbed(runDir: string, features: ProbedFeatures): Promise<{ model: Module; embed: Embed; data: RunData; file: string; step: number }> {
  const series = features === 'finetune-decoder' ? 'finetune' : 'pretrain';
  const checkpoint = readCheckpoint(runDir, { name: series });
  try {
    const { meta, file } = checkpoint;
    if (meta.stage !== series) throw new ConfigError(`${file} is a ${meta.stage} checkpoint; ${features} needs the ${series} series.`);
    const config = parseRunConfig(meta.config, file);
    const data = await openRunData({ ...config, eval: { ...config.eval, test: false } }, meta.splitIds);
    const numClasses = data.labelled.numClasses;
    const model = restoredModel(checkpoint, series === 'finetune' ? buildFinetuneModel(config, numClasses) : new PretrainModel(config, numClasses));
    const embed = features === 'pretrain-head' ? (images: Tensor) => model.forward(images) : (images: Tensor) => model.network.forward(images);
    return { model, embed, data, file, step: meta.step };
  } finally {
    checkpoint.dispose();
  }
}

/** What {@link probeFeatures} measured: a {@link FeatureProbeResult} without the run's details. */
export type FeatureProbeScores = Pick<FeatureProbeResult, 'train' | 'trainPerImage' | 'val' | 'prototypePixels'>;

/**
 * The probe of any feature extractor: `embed` maps normalised images [1, 3, H, W] (borrowed) to
 * features [1, D, h, w] (returned: freed here); prototypes from `labelled`'s pixels, scored on
 * `labelled` and on `val`.
 * @throws ConfigError if `labelled` has no labelled pixel.
 */
export async function probeFeatures(embed: (images: Tensor) => Tensor, labelled: SegmentationDataset, val: SegmentationDataset | null): Promise<FeatureProbeScores> {
  // The labelled images' rows are kept (a few MB an image at stride 4) so that fitting and both train
  // scores share one forward pass per image.
  const trainRows: PixelRows[] = [];
  await forEachRows(labelled, embed, (rows) => { trainRows.push(rows); });
  const dim = trainRows[0]?.dim ?? 1;
  const probe = new PrototypeProbe(labelled.numClasses, dim);
  for (const { rows, labels } of trainRows) probe.add(rows, labels);
  if (probe.classCounts().every((count) => count === 0)) {
    throw new ConfigError(`feature probe: ${labelled.name} has no labelled pixel to build prototypes from.`);
  }
  const [train, trainPerImage] = [new ConfusionMatrix(labelled.numClasses), new ConfusionMatrix(labelled.numClasses)];
  for (const image of trainRows) {
    addScores(train, probe, image);
    // Prototypes of this image alone (see FeatureProbeResult.trainPerImage).
    if (image.labels.length > 0) addScores(trainPerImage, new PrototypeProbe(labelled.numClasses, dim).add(image.rows, image.labels), image);
  }
  return {
    train: train.metrics(), trainPerImage: trainPerImage.metrics(),
    val: val === null ? null : await score(val, embed, probe),
    prototypePixels: probe.classCounts(),
  };
}

/**
 * Probes one run's features (see the file doc), on the labelled images its checkpoint records.
 * @throws CheckpointError if the run has no checkpoint of the needed stage; DatasetError if its data moved.
 */
export async function probeRun(runDir: string, features: ProbedFeatures): Promise<FeatureProbeResult> {
  const { model, embed, data, file, step } = await openProbed(runDir, features);
  try {
    return { features, file, step, ...(await probeFeatures(embed, data.labelled, data.val)) };
  } finally {
    model.dispose();
  }
}
