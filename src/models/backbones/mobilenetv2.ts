/**
 * MobileNetV2 backbone with torchvision's module tree and parameter names (features.0.0.weight,
 * features.1.conv.0.0.weight, ..., features.18.1.running_var), so ImageNet weights converted from
 * torchvision's `mobilenet_v2` load strictly (its `classifier.*` is skipped). Sandler et al. 2018,
 * "MobileNetV2: Inverted Residuals and Linear Bottlenecks", arXiv:1801.04381.
 *
 * Output stride 8/16 follows TF DeepLab's MobileNetV2 (`mobilenet_base(output_stride=...)`, the
 * DeepLab papers' atrous rule): walking the blocks in order, once the accumulated stride has reached
 * the output stride, a block's stride becomes 1 and its depthwise 3x3 uses the running dilation, which
 * is then multiplied by the stride it gave up (so a replaced block keeps the previous dilation, as
 * torchvision's ResNet `replace_stride_with_dilation` does). Padding = dilation; 1x1 convs never dilate.
 *
 * Features: `low` is the output of features[3] (stride 4; 24 channels at width 1, as
 * segmentation_models.pytorch's MobileNetV2 encoder uses for stride 4). `high` is the output of
 * features[18], the final 1x1 conv (1280 channels), as torchvision's `deeplabv3_mobilenet_v3_large`
 * takes its backbone's last `features` module (the 960-channel 1x1 conv). TF DeepLab instead stops at
 * `layer_18` (features[17], 320 channels); keeping features[18] keeps every torchvision weight in use.
 */
import { BatchNorm2d, Conv2d, Layer, ReLU6, Sequential, kaimingNormalFanOut } from '../../nn/index.js';
import type { Tensor } from '../../torch/tensor.js';
import { scope } from '../../torch/scope.js';
import { Backbone, type BackboneFeatures } from './backbone.js';
import type { MobileNetV2BackboneConfig, OutputStride } from '../config.js';

/** Inverted residual stages [expansion t, channels c, blocks n, first stride s] (Sandler et al. 2018, Table 2). */
const INVERTED_RESIDUAL_SETTING: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];
/** Channels of the stem conv and of the final 1x1 conv (torchvision's input_channel, last_channel). */
const STEM_CHANNELS = 32;
const LAST_CHANNELS = 1280;
/** Channel counts are rounded to multiples of this (torchvision's round_nearest). */
const ROUND_NEAREST = 8;
/** features[LOW_FEATURE_INDEX] is the last block at stride 4. */
const LOW_FEATURE_INDEX = 3;

/**
 * torchvision's `_make_divisible`: the nearest multiple of `divisor` (at least `divisor`), bumped up
 * by one step if rounding down lost more than 10%.
 */
export function makeDivisible(value: number, divisor = ROUND_NEAREST): number {
  const rounded = Math.max(divisor, Math.floor(Math.trunc(value + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * value ? rounded + divisor : rounded;
}

/**
 * Stride and depthwise dilation of each feature block given their nominal strides (TF DeepLab's rule,
 * see the file comment): blocks after the accumulated stride reached `outputStride` get stride 1.
 */
export function atrousSchedule(strides: readonly number[], outputStride: OutputStride): { stride: number; dilation: number }[] {
  let current = 1;
  let rate = 1;
  return strides.map((stride) => {
    if (current === outputStride) {
      const dilation = rate;
      rate *= stride;
      return { stride: 1, dilation };
    }
    current *= stride;
    return { stride, dilation: 1 };
  });
}

/**
 * torchvision's Conv2dNormActivation with ReLU6: bias-free conv (kaiming_normal_ fan_out, as
 * torchvision's MobileNetV2 init), BatchNorm, ReLU6 as children '0', '1', '2'.
 */
function convBnReLU6(inChannels: number, outChannels: number, kernel: number, stride = 1, dilation = 1, groups = 1): Sequential {
  const padding = dilation * ((kernel - 1) / 2);
  const conv = new Conv2d(inChannels, outChannels,
    { kernelSize: kernel, stride, padding, dilation, groups, bias: false, weightInit: kaimingNormalFanOut });
  return new Sequential(conv, new BatchNorm2d(outChannels), new ReLU6());
}

/**
 * The inverted residual block: 1x1 expansion (omitted when the expansion is 1) -> depthwise 3x3
 * (strided or dilated) -> linear 1x1 projection + BN, with an identity shortcut when the stride is 1
 * and the channels are unchanged. Children: `conv` (a Sequential, torchvision's names).
 */
export class InvertedResidual extends Layer {
  readonly stride: number;
  readonly dilation: number;
  readonly outChannels: number;
  /** True when the block adds its input (nominal stride 1, same channels). */
  readonly useResidual: boolean;
  readonly conv: Sequential;

  /**
   * `nominalStride` is the architecture's (1 or 2) and decides the shortcut, as in torchvision; `atrous`
   * is what the depthwise conv actually uses once strides are traded for dilation (default: nominal).
   */
  constructor(inChannels: number, outChannels: number, expansion: number, nominalStride: number,
    atrous: { stride: number; dilation: number } = { stride: nominalStride, dilation: 1 }) {
    super();
    const { stride, dilation } = atrous;
    this.stride = stride;
    this.dilation = dilation;
    this.outChannels = outChannels;
    this.useResidual = nominalStride === 1 && inChannels === outChannels;
    const hidden = Math.round(inChannels * expansion);
    const layers: Layer[] = expansion === 1 ? [] : [convBnReLU6(inChannels, hidden, 1)];
    layers.push(
      convBnReLU6(hidden, hidden, 3, stride, dilation, hidden),
      new Conv2d(hidden, outChannels, { kernelSize: 1, bias: false, weightInit: kaimingNormalFanOut }),
      new BatchNorm2d(outChannels),
    );
    this.conv = this.registerModule('conv', new Sequential(...layers));
  }

  forward(input: Tensor): Tensor {
    if (!this.useResidual) return this.conv.forward(input);
    return scope(() => this.conv.forward(input).add(input));
  }
}

/**
 * A torchvision MobileNetV2 without its classifier: `features` (stem, 17 inverted residual blocks,
 * final 1x1 conv), returning features[3] as `low` (stride 4) and features[18] as `high` (stride
 * `outputStride`). Widths follow torchvision's `width_mult` (multiples of 8; the final conv never
 * narrows below 1280). Initialised as torchvision does; seed with manualSeed for reproducible draws.
 */
export class MobileNetV2Backbone extends Backbone {
  readonly kind = 'mobilenetv2';
  readonly outputStride: OutputStride;
  readonly widthMultiplier: number;
  readonly inChannels = 3;
  readonly lowChannels: number;
  readonly highChannels: number;
  /** torchvision's `features`: children '0' .. '18'. */
  readonly features: Sequential;

  constructor(config: MobileNetV2BackboneConfig) {
    super();
    this.outputStride = config.outputStride;
    this.widthMultiplier = config.widthMultiplier ?? 1;
    const blocks = INVERTED_RESIDUAL_SETTING.flatMap(([expansion, channels, count, stride]) => Array.from({ length: count },
      (_, index) => ({ expansion, channels: makeDivisible(channels * this.widthMultiplier), stride: index === 0 ? stride : 1 })));
    // The stem is strided too, so it takes part in the schedule; the final 1x1 conv has stride 1.
    const schedule = atrousSchedule([2, ...blocks.map((block) => block.stride), 1], this.outputStride);
    let inChannels = makeDivisible(STEM_CHANNELS * this.widthMultiplier);
    const layers: Layer[] = [convBnReLU6(this.inChannels, inChannels, 3, schedule[0].stride)];
    blocks.forEach((block, index) => {
      layers.push(new InvertedResidual(inChannels, block.channels, block.expansion, block.stride, schedule[index + 1]));
      inChannels = block.channels;
    });
    this.highChannels = makeDivisible(LAST_CHANNELS * Math.max(1, this.widthMultiplier));
    layers.push(convBnReLU6(inChannels, this.highChannels, 1));
    this.features = this.registerModule('features', new Sequential(...layers));
    this.lowChannels = (layers[LOW_FEATURE_INDEX] as InvertedResidual).outChannels;
  }

  forward(images: Tensor): BackboneFeatures {
    this.checkInput(images);
    return scope(() => {
      const layers = this.features.layers;
      let low = images;
      let current = images;
      for (let index = 0; index < layers.length; index++) {
        current = layers[index].forward(current);
        if (index === LOW_FEATURE_INDEX) low = current; // [B, lowChannels, ceil(H/4), ceil(W/4)]
      }
      return { low, high: current }; // high: [B, highChannels, ceil(H/os), ceil(W/os)]
    });
  }
}
