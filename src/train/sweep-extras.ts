/**
 * The report's pictures, computed once the cells are trained: a grid of test images with ground
 * truth and each method's prediction, and 2-D maps of pixel embeddings (the cross-entropy model's
 * decoder features, and the contrastive model's projection-head embeddings after stage 1, before
 * fine-tuning): the picture of what the loss does.
 */
import sharp from 'sharp';
import { Rng } from '../augment/rng.js';
import type { Rgb } from '../augment/geometric.js';
import type { SegmentationDataset, Sample } from '../data/types.js';
import { predictMasks } from '../eval/predict.js';
import { embed2d } from '../report/embedding-map.js';
import { colourMaskPng } from '../report/mask-images.js';
import type { EmbeddingMap, PredictionRow } from '../report/results.js';
import { noGrad, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { readCheckpoint, restoreCheckpoint } from './checkpoint.js';
import { loadTrainedModel } from './load-model.js';
import { imageTensor, labelledPixelRows } from './pixel-rows.js';
import { PretrainModel } from './pretrain.js';
import type { CellPlan } from './sweep.js';

const dataUrl = (png: Buffer): string => `data:image/png;base64,${png.toString('base64')}`;

/** Evenly spaced test images (deterministic). */
function pick(dataset: SegmentationDataset, count: number): number[] {
  const n = Math.min(count, dataset.length);
  return Array.from({ length: n }, (_, i) => Math.floor((i * dataset.length) / n));
}

/** Rows of the prediction grid: each image, its ground truth and every cell's prediction. */
export async function predictionGrid(cells: readonly CellPlan[], test: SegmentationDataset, count: number, colours: readonly Rgb[]): Promise<PredictionRow[]> {
  const indices = pick(test, count);
  const samples = await Promise.all(indices.map((index) => test.get(index)));
  const predictions: Record<string, string>[] = samples.map(() => ({}));
  for (const cell of cells) {
    const trained = loadTrainedModel(cell.runDir);
    try {
      samples.forEach((sample, i) => {
        const ids = noGrad(() => scope(() => Uint8Array.from(predictMasks(trained.model, imageTensor(sample)).toTypedArray() as BigInt64Array, Number)));
        (predictions[i] as Record<string, string>)[cell.method] = dataUrl(colourMaskPng({ width: sample.width, height: sample.height, classIds: ids }, colours));
      });
    } finally {
      trained.model.dispose();
    }
  }
  return Promise.all(samples.map(async (sample, i) => ({
    id: sample.id,
    image: dataUrl(await sharp(Buffer.from(sample.image), { raw: { width: sample.width, height: sample.height, channels: 3 } }).png().toBuffer()),
    truth: dataUrl(colourMaskPng({ width: sample.width, height: sample.height, classIds: sample.mask }, colours)),
    predictions: predictions[i] as Record<string, string>,
  })));
}

/** Feature rows (unit norm) and class ids of up to `quota` labelled pixels of one image at the features' stride. */
function samplePixels(features: Tensor, sample: Sample, quota: number, rng: Rng): { rows: Float32Array; labels: number[] } {
  return labelledPixelRows(features, sample, (labelled) => rng.shuffle(labelled).slice(0, quota));
}

type Embedder = (input: Tensor) => Tensor;

async function embeddingMap(title: string, embed: Embedder, test: SegmentationDataset, pixels: number, seed: number): Promise<EmbeddingMap> {
  const indices = pick(test, 24);
  const quota = Math.ceil(pixels / indices.length);
  const rng = new Rng(seed);
  const parts: { rows: Float32Array; labels: number[] }[] = [];
  let dim = 0;
  for (const index of indices) {
    const sample = await test.get(index);
    parts.push(noGrad(() => scope(() => {
      const features = embed(imageTensor(sample));
      dim = features.shape[1] as number;
      return samplePixels(features, sample, quota, rng);
    })));
  }
  const rows = new Float32Array(parts.reduce((n, part) => n + part.rows.length, 0));
  let offset = 0;
  for (const part of parts) {
    rows.set(part.rows, offset);
    offset += part.rows.length;
  }
  const labels = parts.flatMap((part) => part.labels);
  const points = embed2d(rows, dim, { seed });
  return { title, points: points.map(([x, y]: readonly [number, number], i: number) => [x, y, labels[i] as number] as const) };
}

/** The two embedding maps: `ce`'s fine-tuned decoder features, and a contrastive cell's stage-1 embeddings. */
export async function embeddingMaps(ce: CellPlan | undefined, contrastive: CellPlan | undefined, test: SegmentationDataset, pixels: number): Promise<EmbeddingMap[]> {
  const maps: EmbeddingMap[] = [];
  if (ce !== undefined) {
    const trained = loadTrainedModel(ce.runDir);
    try {
      maps.push(await embeddingMap(`ce (K = ${ce.labelled}): decoder features after cross-entropy training`, (x) => trained.model.network.forward(x), test, pixels, 0));
    } finally {
      trained.model.dispose();
    }
  }
  if (contrastive !== undefined) {
    const checkpoint = readCheckpoint(contrastive.runDir, { name: 'pretrain' });
    const model = new PretrainModel(contrastive.config, test.numClasses);
    try {
      restoreCheckpoint(checkpoint, { model });
      model.eval();
      maps.push(await embeddingMap(`${contrastive.method} (K = ${contrastive.labelled}): projection-head embeddings after pretraining, before fine-tuning`,
        (x) => model.forward(x), test, pixels, 0));
    } finally {
      checkpoint.dispose();
      model.dispose();
    }
  }
  return maps;
}
