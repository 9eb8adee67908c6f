/**
 * The contract between a backbone and DeepLabV3+ (torchvision's IntermediateLayerGetter: "features is
 * a dict"): forward returns the stride-4 features for the decoder and the stride-`outputStride`
 * features for ASPP, and the backbone states their channel counts (segmentation_models.pytorch's
 * `encoder.outChannels`) so the head is built without running it.
 */
import { Module } from '../../nn/index.js';
import type { Tensor } from '../../torch/tensor.js';
import { ShapeError } from '../../errors.js';
import type { OutputStride } from '../config.js';

/** What a backbone returns; both tensors belong to the caller. */
export interface BackboneFeatures {
  /** Low-level features [B, lowChannels, H/4, W/4]. */
  low: Tensor;
  /** High-level features [B, highChannels, H/outputStride, W/outputStride]. */
  high: Tensor;
}

/** A feature extractor DeepLabV3+ can sit on. */
export abstract class Backbone extends Module {
  /** Channels of `low`. */
  abstract readonly lowChannels: number;
  /** Channels of `high`. */
  abstract readonly highChannels: number;
  /** Input size / `high` size. */
  abstract readonly outputStride: OutputStride;
  /** Channels the input must have (3 for RGB). */
  abstract readonly inChannels: number;

  /**
   * Extracts features. images [B, inChannels, H, W] float32 with H and W divisible by outputStride
   * (borrowed). @throws ShapeError for any other shape, saying which size to resize or pad to.
   */
  abstract forward(images: Tensor): BackboneFeatures;

  /** @throws ShapeError unless images is [B, inChannels, H, W] with H, W positive multiples of outputStride. */
  protected checkInput(images: Tensor): void {
    const shape = images.shape;
    const name = this.constructor.name;
    if (shape.length !== 4 || shape[1] !== this.inChannels) {
      throw new ShapeError(`${name}: expected images [B, ${this.inChannels}, H, W], got [${shape.join(', ')}]. ` +
        (shape.length === 3 ? 'Add a batch dimension with unsqueeze(0) for a single image.' : 'Images are NCHW float32.'));
    }
    const [height, width] = [shape[2], shape[3]];
    const stride = this.outputStride;
    if (height % stride !== 0 || width % stride !== 0 || height === 0 || width === 0) {
      const fit = (size: number): number => Math.max(stride, Math.ceil(size / stride) * stride);
      throw new ShapeError(`${name}: expected height and width divisible by the output stride ${stride}, ` +
        `got ${height}x${width}. Resize or pad the images to ${fit(height)}x${fit(width)}.`);
    }
  }
}
