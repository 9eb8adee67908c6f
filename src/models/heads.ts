/**
 * Heads on the decoder features. They are separate modules so that stage 2 drops the projection head
 * of stage 1 and adds a classifier while every network weight stays (see SegmentationModel).
 */
import { BatchNorm2d, Conv2d, Layer, ReLU, Sequential } from '../nn/index.js';
import type { Tensor } from '../torch/tensor.js';
import { scope } from '../torch/scope.js';
import { normalize } from '../torch/ops/functional.js';
import { ConfigError, ShapeError } from '../errors.js';
import { tensor } from '../torch/creation.js';
import { PROJECTION_DEFAULTS, expectPositiveInteger, type ProjectionHeadConfig } from './config.js';

function expectChannels(input: Tensor, channels: number, what: string): void {
  if (input.rank !== 4 || input.shape[1] !== channels) {
    throw new ShapeError(`${what}: expected features [B, ${channels}, H, W], got [${input.shape.join(', ')}]`);
  }
}

/**
 * The projection head of Zhao et al. 2021 ("Contrastive Learning for Label Efficient Semantic
 * Segmentation", arXiv:2012.06985, Sec. 4): 1x1 convolutions of `width` channels with ReLU between
 * them (three by default), then unit L2 normalisation over channels.
 * [B, inChannels, h, w] -> [B, width, h, w] with ||out[b, :, y, x]|| = 1.
 * Convolutions carry a bias unless followed by BatchNorm (option `batchNorm`: BN before each hidden ReLU).
 */
export class ProjectionHead extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly layerCount: number;
  readonly batchNorm: boolean;
  /** conv [, BN], ReLU, ..., conv: the pre-normalisation layers, named 0, 1, ... */
  readonly layers: Sequential;

  /** @throws ConfigError if layers or width is not a positive integer. */
  constructor(inChannels: number, config: Omit<ProjectionHeadConfig, 'kind'> = {}) {
    super();
    const layerCount = config.layers ?? PROJECTION_DEFAULTS.layers;
    const width = config.width ?? PROJECTION_DEFAULTS.width;
    expectPositiveInteger(layerCount, 'projection head layers');
    expectPositiveInteger(width, 'projection head width');
    this.inChannels = inChannels;
    this.outChannels = width;
    this.layerCount = layerCount;
    this.batchNorm = config.batchNorm ?? PROJECTION_DEFAULTS.batchNorm;
    const layers: Layer[] = [];
    for (let index = 0; index < layerCount; index++) {
      const last = index === layerCount - 1;
      const hiddenBn = this.batchNorm && !last;
      layers.push(new Conv2d(index === 0 ? inChannels : width, width, { kernelSize: 1, bias: !hiddenBn }));
      if (hiddenBn) layers.push(new BatchNorm2d(width));
      if (!last) layers.push(new ReLU());
    }
    this.layers = this.registerModule('layers', new Sequential(...layers));
  }

  /** features [B, inChannels, h, w] (borrowed) -> unit-norm embeddings [B, width, h, w]. @throws ShapeError. */
  forward(features: Tensor): Tensor {
    expectChannels(features, this.inChannels, 'ProjectionHead');
    return scope(() => normalize(this.layers.forward(features), { dim: 1 })); // [B, D, h, w], unit norm over D
  }
}

/**
 * The pixel-wise classifier: one 1x1 convolution (with bias) to class logits, plus an optional constant
 * per class added to the logits in eval mode only (post-hoc logit adjustment, see src/train/logit-adjustment.ts).
 * The offset is not a parameter or buffer: the state dict stays torchvision-shaped and the checkpoint
 * carries what the offset was computed from.
 */
export class Classifier extends Layer {
  readonly inChannels: number;
  readonly numClasses: number;
  readonly conv: Conv2d;
  private offset: Float32Array | null = null;

  /** @throws ConfigError if numClasses is not a positive integer. */
  constructor(inChannels: number, numClasses: number) {
    super();
    expectPositiveInteger(numClasses, 'classifier numClasses');
    this.inChannels = inChannels;
    this.numClasses = numClasses;
    this.conv = this.registerModule('conv', new Conv2d(inChannels, numClasses, { kernelSize: 1 }));
  }

  /** The per-class constant added to eval-mode logits, or null (none). */
  get logitOffset(): readonly number[] | null {
    return this.offset === null ? null : [...this.offset];
  }

  /**
   * Sets (numClasses finite numbers) or clears (null) the constant added to class c's logit in eval mode.
   * Training mode never adds it, so the loss and its gradients are those of the plain classifier.
   * @throws ConfigError for a wrong length or a non-finite value.
   */
  setLogitOffset(values: readonly number[] | null): void {
    if (values !== null && (values.length !== this.numClasses || !values.every(Number.isFinite))) {
      throw new ConfigError(`classifier logit offset: expected ${this.numClasses} finite numbers, got [${values.join(', ')}]`);
    }
    this.offset = values === null ? null : Float32Array.from(values);
  }

  /** features [B, inChannels, h, w] (borrowed) -> logits [B, numClasses, h, w]. @throws ShapeError. */
  forward(features: Tensor): Tensor {
    expectChannels(features, this.inChannels, 'Classifier');
    const offset = this.offset;
    if (this.training || offset === null) return this.conv.forward(features);
    return scope(() => this.conv.forward(features).add(tensor(offset, [1, this.numClasses, 1, 1])));
  }
}

/** Any head a SegmentationModel can carry. */
export type SegmentationHead = ProjectionHead | Classifier;
