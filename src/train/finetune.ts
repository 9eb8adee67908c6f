/**
 * Stage 2, softmax fine-tuning (Zhao et al., ICCV 2021, Sec. 3.3): the projection head is dropped, a
 * pixel-wise classifier is added, and the whole network trains with cross-entropy. The baseline is
 * the same stage from random initialisation (or ImageNet backbone weights).
 */
import type { Batch } from '../data/loader.js';
import { DEFAULT_IGNORE_INDEX } from '../losses/index.js';
import { buildModel } from '../models/build.js';
import { Classifier } from '../models/heads.js';
import { OUTPUT_ALIGN_CORNERS, SegmentationModel } from '../models/segmentation-model.js';
import type { StateDict } from '../nn/index.js';
import { crossEntropy, interpolate } from '../torch/ops/functional.js';
import { scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { networkConfig } from './build.js';
import type { RunConfig } from './config.js';

/** The stage-2 model: network + classifier. State-dict keys network.*, head.*. */
export type FinetuneModel = SegmentationModel<Classifier>;

/** Builds network + classifier from the run config (weights from the global generator: seed first). */
export function buildFinetuneModel(config: RunConfig, numClasses: number): FinetuneModel {
  const network = buildModel(networkConfig(config.model));
  return new SegmentationModel(network, new Classifier(network.outChannels, numClasses));
}

/**
 * Copies the `network.*` entries of a stage-1 state dict (PretrainModel keys) into the model's
 * network, strictly: every network weight and BN statistic must be there with its shape. The
 * projection head (`head.*`) and a joint classifier (`classifier.*`) are left out.
 * @throws StateDictError listing missing and mismatched keys.
 */
export function loadPretrainedNetwork(model: FinetuneModel, stage1: StateDict): void {
  const network: StateDict = new Map();
  for (const [key, value] of stage1) if (key.startsWith('network.')) network.set(key.slice('network.'.length), value);
  model.network.loadStateDict(network);
}

/**
 * Pixel-wise cross-entropy of logits at any stride against labels [B, H, W]: logits are upsampled
 * (bilinear, as the model's output) to the label size; 255 is ignored; `classWeights` [K] weigh the
 * classes (weighted mean, PyTorch's convention). A batch whose pixels are all ignored gives an exact
 * zero with zero gradients instead of PyTorch's 0/0 = NaN.
 */
export function segmentationLoss(logits: Tensor, labels: Tensor, classWeights: Tensor | null): Tensor {
  return scope(() => {
    const [height, width] = [labels.shape[1] as number, labels.shape[2] as number];
    const resized = logits.shape[2] === height && logits.shape[3] === width ? logits
      : interpolate(logits, [height, width], 'bilinear', OUTPUT_ALIGN_CORNERS); // [B, K, H, W]
    const valid = labels.ne(DEFAULT_IGNORE_INDEX).sum().item();
    if (valid === 0) return resized.sum().mul(0);
    return crossEntropy(resized, labels, { ignoreIndex: DEFAULT_IGNORE_INDEX, weight: classWeights });
  });
}

/** The stage-2 loss of one batch (a scalar the caller backpropagates and frees). */
export function finetuneLoss(model: FinetuneModel, batch: Batch, classWeights: Tensor | null): Tensor {
  return scope(() => segmentationLoss(model.forward(batch.images), batch.labels, classWeights));
}
