/**
 * The contract between a backbone and DeepLabV3+ (torchvision's IntermediateLayerGetter: "features is
 * a dict"): forward returns the stride-4 features for the decoder and the stride-`outputStride`
 * features for ASPP (sizes rounded up when H, W are not multiples), and the backbone states their
 * channel counts (segmentation_models.pytorch's `encoder.outChannels`) so the head is built without
 * running it.
 */
import { Module } from '../../nn/index.js';
import type { Tensor } from '../../torch/tensor.js';
import { ShapeError } from '../../errors.js';
import type { OutputStride } from '../config.js';

/** What a backbone returns; both tensors belong to the caller. */
export interface BackboneFeatures {
  /** Low-level features [B, lowChannels, ceil(H/4), ceil(W/4)]. */
  low: Tensor;
  /** High-level features [B, highChannels, ceil(H/outputStride), ceil(W/outputStride)]. */
  high: Tensor;
}

/**
 * A feature extractor DeepLabV3+ can sit on. Any positive height and width: like torchvision's models,
 * every stride-2 convolution pads so that it outputs ceil(size / 2), hence the ceil sizes above.
 */
export abstract class Backbone extends Module {
  /** Channels of `low`. */
  abstract readonly lowChannels: number;
  /** Channels of `high`. */
  abstract readonly highChannels: number;
  /** Input size / `high` size (rounded up: high is ceil(H / outputStride) high). */
  abstract readonly outputStride: OutputStride;
  /** Channels the input must have (3 for RGB). */
  abstract readonly inChannels: number;

  /**
   * Extracts features. images [B, inChannels, H, W] float32, any H, W >= 1 (borrowed).
   * @throws ShapeError for any other shape, saying how to fix it.
   */
  abstract forward(images: Tensor): BackboneFeatures;

  /** @throws ShapeError unless images is [B, inChannels, H, W] with H, W positive. */
  protected checkInput(images: Tensor): void {
    const shape = images.shape;
    const name = this.constructor.name;
    if (shape.length !== 4 || shape[1] !== this.inChannels) {
      throw new ShapeError(`${name}: expected images [B, ${this.inChannels}, H, W], got [${shape.join(', ')}]. ` +
        (shape.length === 3 ? 'Add a batch dimension with unsqueeze(0) for a single image.' : 'Images are NCHW float32.'));
    }
    if (shape[0] === 0 || shape[2] === 0 || shape[3] === 0) {
      throw new ShapeError(`${name}: expected a non-empty batch of images of positive height and width, got [${shape.join(', ')}]`);
    }
  }
}
