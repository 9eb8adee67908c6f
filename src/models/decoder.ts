/**
 * The DeepLabV3+ decoder (Chen et al. 2018, "Encoder-Decoder with Atrous Separable Convolution for
 * Semantic Image Segmentation", arXiv:1802.02611, Sec. 3.1 and Fig. 2): reduce the stride-4 backbone
 * features to 48 channels (1x1 conv + BN + ReLU) so they do not outweigh the encoder, upsample the ASPP
 * output to stride 4, concatenate [upsampled ASPP, reduced] (TF DeepLab's order), refine with two
 * 3x3 conv + BN + ReLU of 256 channels. TF DeepLab resizes with align_corners=True; we use False
 * (torchvision's convention, and ONNX's half_pixel Resize).
 */
import { BatchNorm2d, Conv2d, Module, ReLU, Sequential, kaimingNormalFanOut } from '../nn/index.js';
import type { Tensor } from '../torch/tensor.js';
import { scope } from '../torch/scope.js';
import { cat } from '../torch/ops/shape.js';
import { interpolate } from '../torch/ops/functional.js';
import { ShapeError } from '../errors.js';

/** Corner alignment of the decoder's bilinear upsampling (see the file comment). */
export const DECODER_ALIGN_CORNERS = false;

function convBnRelu(inChannels: number, outChannels: number, kernel: number): [Conv2d, BatchNorm2d, ReLU] {
  const conv = new Conv2d(inChannels, outChannels, { kernelSize: kernel, padding: (kernel - 1) / 2, bias: false, weightInit: kaimingNormalFanOut });
  return [conv, new BatchNorm2d(outChannels), new ReLU()];
}

/** Fuses stride-4 features with the ASPP output: -> [B, outChannels, h4, w4], the size of the stride-4 features. */
export class DeepLabV3PlusDecoder extends Module {
  readonly lowChannels: number;
  readonly highChannels: number;
  readonly reductionChannels: number;
  readonly outChannels: number;
  /** 1x1 conv + BN + ReLU on the stride-4 features. */
  readonly reduce: Sequential;
  /** Two 3x3 conv + BN + ReLU on the concatenation. */
  readonly refine: Sequential;

  constructor(lowChannels: number, highChannels: number, reductionChannels: number, outChannels: number) {
    super();
    this.lowChannels = lowChannels;
    this.highChannels = highChannels;
    this.reductionChannels = reductionChannels;
    this.outChannels = outChannels;
    this.reduce = this.registerModule('reduce', new Sequential(...convBnRelu(lowChannels, reductionChannels, 1)));
    this.refine = this.registerModule('refine', new Sequential(
      ...convBnRelu(highChannels + reductionChannels, outChannels, 3), ...convBnRelu(outChannels, outChannels, 3)));
  }

  /**
   * low [B, lowChannels, h4, w4], high [B, highChannels, h, w] (borrowed) -> [B, outChannels, h4, w4]: the
   * ASPP output is resized to exactly h4 x w4, whatever the ratio (ceil sizes of odd inputs are not 2x or 4x).
   * @throws ShapeError if the batch sizes differ.
   */
  forward(low: Tensor, high: Tensor): Tensor {
    const [batch, , height, width] = low.shape;
    if (high.shape[0] !== batch) {
      throw new ShapeError(`DeepLabV3PlusDecoder: low-level batch ${batch} and ASPP batch ${high.shape[0]} differ`);
    }
    return scope(() => {
      const upsampled = interpolate(high, [height, width], 'bilinear', DECODER_ALIGN_CORNERS); // [B, high, h4, w4]
      const fused = cat([upsampled, this.reduce.forward(low)], 1); // [B, high + reduction, h4, w4]
      return this.refine.forward(fused);
    });
  }
}
