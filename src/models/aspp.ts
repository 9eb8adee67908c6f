/**
 * Atrous Spatial Pyramid Pooling (Chen et al. 2017, "Rethinking Atrous Convolution for Semantic Image
 * Segmentation", arXiv:1706.05587, Sec. 3.3), built from three small named parts as torchvision's
 * `segmentation/deeplabv3.py` (whose module names it keeps: convs.0 ... convs.4, project): a 1x1
 * branch, three atrous 3x3 branches, an image-pooling branch, each conv + BN + ReLU, concatenated and
 * projected by 1x1 conv + BN + ReLU + dropout. The dropout rate is TF DeepLab's (keep_prob 0.9 after the
 * concat projection, research/deeplab/model.py), which the paper's released code builds on;
 * torchvision uses 0.5.
 */
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Layer, LayerList, ReLU, Sequential, kaimingNormalFanOut } from '../nn/index.js';
import type { Tensor } from '../torch/tensor.js';
import { scope } from '../torch/scope.js';
import { cat } from '../torch/ops/shape.js';
import { interpolate } from '../torch/ops/functional.js';
import type { OutputStride } from './config.js';

/** Atrous rates of the three 3x3 branches at output stride 16; doubled at 8 (DeepLabV3, Sec. 3.3). */
export const ASPP_RATES_OS16 = [6, 12, 18] as const;

/** The atrous rates for an output stride: [6, 12, 18] at 16, [12, 24, 36] at 8. */
export function asppRates(outputStride: OutputStride): number[] {
  return ASPP_RATES_OS16.map((rate) => (rate * 16) / outputStride);
}

/** conv (no bias, kaiming_normal_ fan_out) + BN + ReLU, as a Sequential named 0, 1, 2. */
function convBnRelu(inChannels: number, outChannels: number, kernel: number, dilation = 1): [Conv2d, BatchNorm2d, ReLU] {
  const padding = kernel === 1 ? 0 : dilation;
  const conv = new Conv2d(inChannels, outChannels, { kernelSize: kernel, padding, dilation, bias: false, weightInit: kaimingNormalFanOut });
  return [conv, new BatchNorm2d(outChannels), new ReLU()];
}

/** A 3x3 atrous branch: [B, in, h, w] -> [B, out, h, w]. */
export class ASPPConv extends Sequential {
  readonly rate: number;
  constructor(inChannels: number, outChannels: number, rate: number) {
    super(...convBnRelu(inChannels, outChannels, 3, rate));
    this.rate = rate;
  }
}

/** Image pooling: global average, 1x1 conv + BN + ReLU, broadcast back to [B, out, h, w] by bilinear resize. */
export class ASPPPooling extends Sequential {
  constructor(inChannels: number, outChannels: number) {
    super(new AdaptiveAvgPool2d(1), ...convBnRelu(inChannels, outChannels, 1));
  }
  override forward(input: Tensor): Tensor {
    const [height, width] = input.shape.slice(2);
    return scope(() => interpolate(super.forward(input), [height, width], 'bilinear', false));
  }
}

/** ASPP: [B, inChannels, h, w] -> [B, outChannels, h, w]. */
export class ASPP extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly rates: readonly number[];
  /** The five parallel branches: 1x1, three ASPPConv, ASPPPooling. */
  readonly convs: LayerList;
  /** 1x1 conv of the concatenation + BN + ReLU + dropout. */
  readonly project: Sequential;

  constructor(inChannels: number, rates: number[], outChannels: number, dropout: number) {
    super();
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.rates = rates;
    const branches: Layer[] = [
      new Sequential(...convBnRelu(inChannels, outChannels, 1)),
      ...rates.map((rate) => new ASPPConv(inChannels, outChannels, rate)),
      new ASPPPooling(inChannels, outChannels),
    ];
    this.convs = this.registerModule('convs', new LayerList(branches));
    this.project = this.registerModule('project',
      new Sequential(...convBnRelu(branches.length * outChannels, outChannels, 1), new Dropout(dropout)));
  }

  forward(input: Tensor): Tensor {
    return scope(() => {
      const branches = this.convs.items.map((branch) => branch.forward(input));
      return this.project.forward(cat(branches, 1)); // [B, 5 * out, h, w] -> [B, out, h, w]
    });
  }
}
