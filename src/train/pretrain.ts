/**
 * Stage 1, label-based contrastive pretraining (Zhao et al., ICCV 2021, Sec. 3): I and its distorted
 * copy Î go through the network in ONE forward (so BatchNorm normalises both views as one batch), the
 * projection head maps the decoder features to unit-norm embeddings, and a pixel-wise contrastive
 * loss pulls same-class pixels together. Optionally (ceWeight > 0) a classifier adds cross-entropy
 * on the same features (joint training, as in ContrastiveSeg, Wang et al. 2021).
 */
import type { PairBatch } from '../data/loader.js';
import {
  batchContrastiveLoss, contrastiveLossFloor, crossImageContrastiveLoss, officialContrastiveLoss, withinImageContrastiveLoss,
  DEFAULT_IGNORE_INDEX,
} from '../losses/index.js';
import { buildModel } from '../models/build.js';
import type { DeepLabV3Plus } from '../models/deeplabv3plus.js';
import { Classifier, ProjectionHead } from '../models/heads.js';
import { Module } from '../nn/index.js';
import { adaptiveAvgPool2d } from '../torch/ops/functional.js';
import { cat } from '../torch/ops/shape.js';
import { scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import type { PretrainConfig, RunConfig } from './config.js';
import { networkConfig } from './build.js';
import { capAnchorsPerClass, downsampleLabels } from './labels.js';
import { segmentationLoss } from './finetune.js';

/** The stage-1 model: the network, the projection head and, for joint training, a classifier. Keys network.*, head.*, classifier.*. */
export class PretrainModel extends Module {
  readonly network: DeepLabV3Plus;
  readonly head: ProjectionHead;
  readonly classifier: Classifier | null;

  /** Builds the three parts from the run config (weights from the global generator: seed first). */
  constructor(config: RunConfig, numClasses: number) {
    super();
    this.network = this.registerModule('network', buildModel(networkConfig(config.model)));
    this.head = this.registerModule('head', new ProjectionHead(this.network.outChannels, config.pretrain.head));
    this.classifier = config.pretrain.ceWeight > 0 ? this.registerModule('classifier', new Classifier(this.network.outChannels, numClasses)) : null;
  }

  /** Not used: stage 1 has no single output; see pretrainLoss. */
  forward(images: Tensor): Tensor {
    return this.head.forward(this.network.forward(images));
  }
}

/** Features at the loss stride: the decoder's stride-4 map, or average-pooled to stride 8 / 16. */
function atLossStride(features: Tensor, imageSize: readonly [number, number], lossStride: 4 | 8 | 16): Tensor {
  if (lossStride === 4) return features;
  const [height, width] = imageSize;
  return adaptiveAvgPool2d(features, [Math.ceil(height / lossStride), Math.ceil(width / lossStride)]);
}

/** What pretrainLoss can report besides the loss. */
export interface PretrainStats {
  /** The contrastive loss's floor on this batch (contrastiveLossFloor; 0 for 'official'): how far stage 1 has to go. */
  lossFloor: number;
}

/**
 * The stage-1 loss of one batch (a scalar the caller backpropagates and frees).
 * batch.images I and batch.distorted Î [B, 3, H, W], batch.labels [B, H, W] (255 = ignore).
 * `stats`, when given, receives the batch's loss floor (of the contrastive term alone).
 */
export function pretrainLoss(model: PretrainModel, batch: PairBatch, config: PretrainConfig, stats?: PretrainStats): Tensor {
  return scope(() => {
    const size = batch.images.shape[0] as number;
    const imageSize: [number, number] = [batch.images.shape[2] as number, batch.images.shape[3] as number];
    const features = model.network.forward(cat([batch.images, batch.distorted], 0)); // [2B, C, H/4, W/4]
    const embeddings = model.head.forward(atLossStride(features, imageSize, config.lossStride)); // [2B, D, h, w], unit norm
    const [h, w] = [embeddings.shape[2] as number, embeddings.shape[3] as number];
    const labels = downsampleLabels(batch.labels, [h, w]); // [B, h, w]
    // The anchors' labels: every valid pixel, or at most anchorsPerClass per class and image (not for 'official').
    const anchorLabels = config.anchorsPerClass === null || config.loss === 'official' ? labels : capAnchorsPerClass(labels, config.anchorsPerClass, DEFAULT_IGNORE_INDEX);
    const anchors = embeddings.slice(0, 0, size); // view I
    const contrast = embeddings.slice(0, size, 2 * size); // view Î
    const options = { temperature: config.temperature, ignoreIndex: DEFAULT_IGNORE_INDEX };
    if (stats !== undefined) stats.lossFloor = contrastiveLossFloor(config.loss, anchorLabels, labels, { ignoreIndex: DEFAULT_IGNORE_INDEX });
    let loss: Tensor;
    switch (config.loss) {
      case 'within':
        loss = withinImageContrastiveLoss(anchors, anchorLabels, contrast, labels, options);
        break;
      case 'cross':
        loss = crossImageContrastiveLoss(anchors, anchorLabels, contrast, labels, options);
        break;
      case 'batch':
        loss = batchContrastiveLoss(anchors, anchorLabels, contrast, labels, options);
        break;
      case 'official':
        loss = officialContrastiveLoss(anchors, labels, contrast, labels, { temperature: config.temperature, ignoreLabels: [DEFAULT_IGNORE_INDEX], mode: 'within' });
        break;
      default: {
        const unreachable: never = config.loss;
        throw new Error(`unhandled loss ${String(unreachable)}`);
      }
    }
    if (model.classifier === null) return loss;
    const logits = model.classifier.forward(features); // [2B, K, H/4, W/4]
    const ce = segmentationLoss(logits, cat([batch.labels, batch.labels], 0), null);
    return loss.add(ce.mul(config.ceWeight));
  });
}
