/**
 * ResNet-18/34/50 backbones with torchvision's module tree and parameter names (conv1, bn1,
 * layer1.0.conv1, layer1.0.downsample.0, ...), so ImageNet weights converted from torchvision load
 * strictly. He et al. 2016, "Deep Residual Learning for Image Recognition", arXiv:1512.03385;
 * torchvision's Bottleneck is "ResNet v1.5" (stride on the 3x3 conv).
 *
 * Output stride 8/16 follows torchvision's `replace_stride_with_dilation`: a stage whose stride is
 * replaced keeps stride 1 and multiplies the running dilation by 2; its first block uses the previous
 * dilation, the others the new one. torchvision's BasicBlock refuses dilation > 1; here BasicBlock
 * dilates both of its 3x3 convolutions (padding = dilation), as DeepLab implementations of ResNet-18/34
 * do (e.g. TF DeepLab's atrous ResNet units). The weights are the same tensors either way.
 */
import { BatchNorm2d, Conv2d, Layer, Sequential, kaimingNormalFanOut } from '../../nn/index.js';
import type { Tensor } from '../../torch/tensor.js';
import { scope } from '../../torch/scope.js';
import { maxPool2d } from '../../torch/ops/functional.js';
import { Backbone, type BackboneFeatures } from './backbone.js';
import { scaleChannels, type OutputStride, type ResNetBackboneConfig, type ResNetKind } from '../config.js';

/** Blocks per stage and block type of each depth (torchvision's resnet18/34/50). */
const RESNET_LAYOUT: Record<ResNetKind, { blocks: [number, number, number, number]; bottleneck: boolean }> = {
  resnet18: { blocks: [2, 2, 2, 2], bottleneck: false },
  resnet34: { blocks: [3, 4, 6, 3], bottleneck: false },
  resnet50: { blocks: [3, 4, 6, 3], bottleneck: true },
};

/** Base widths of the stem and the four stages (torchvision). */
const STEM_CHANNELS = 64;
const STAGE_PLANES = [64, 128, 256, 512] as const;

/** A bias-free convolution with torchvision's ResNet init (kaiming_normal_, fan_out, relu). */
function convNoBias(inChannels: number, outChannels: number, kernel: number, stride = 1, dilation = 1): Conv2d {
  const padding = kernel === 1 ? 0 : dilation * ((kernel - 1) / 2);
  return new Conv2d(inChannels, outChannels, { kernelSize: kernel, stride, padding, dilation, bias: false, weightInit: kaimingNormalFanOut });
}

/** What every residual block shares: a shortcut (`downsample`, torchvision's name) and the add + ReLU. */
abstract class ResidualBlock extends Layer {
  /** 1x1 conv + BN on the shortcut when the shape changes, else null (identity shortcut). */
  readonly downsample: Sequential | null;
  readonly stride: number;
  readonly dilation: number;
  readonly outChannels: number;

  protected constructor(downsample: Sequential | null, stride: number, dilation: number, outChannels: number) {
    super();
    this.downsample = downsample;
    this.stride = stride;
    this.dilation = dilation;
    this.outChannels = outChannels;
  }

  /** The residual branch, before the add. */
  protected abstract residual(input: Tensor): Tensor;

  forward(input: Tensor): Tensor {
    return scope(() => {
      const shortcut = this.downsample === null ? input : this.downsample.forward(input);
      return this.residual(input).add(shortcut).relu();
    });
  }
}

/** Two 3x3 convolutions (ResNet-18/34). Both dilated by `dilation` (see the file comment). */
export class BasicBlock extends ResidualBlock {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;

  constructor(inChannels: number, planes: number, stride: number, dilation: number, downsample: Sequential | null) {
    super(downsample, stride, dilation, planes);
    this.conv1 = this.registerModule('conv1', convNoBias(inChannels, planes, 3, stride, dilation));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', convNoBias(planes, planes, 3, 1, dilation));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    if (downsample !== null) this.registerModule('downsample', downsample);
  }

  protected residual(input: Tensor): Tensor {
    const hidden = this.bn1.forward(this.conv1.forward(input)).relu();
    return this.bn2.forward(this.conv2.forward(hidden));
  }
}

/** 1x1 reduce, 3x3 (strided, dilated), 1x1 expand by 4 (ResNet-50, torchvision's v1.5). */
export class Bottleneck extends ResidualBlock {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;

  constructor(inChannels: number, planes: number, stride: number, dilation: number, downsample: Sequential | null) {
    super(downsample, stride, dilation, planes * Bottleneck.expansion);
    this.conv1 = this.registerModule('conv1', convNoBias(inChannels, planes, 1));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', convNoBias(planes, planes, 3, stride, dilation));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.conv3 = this.registerModule('conv3', convNoBias(planes, this.outChannels, 1));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(this.outChannels));
    if (downsample !== null) this.registerModule('downsample', downsample);
  }

  protected residual(input: Tensor): Tensor {
    const reduced = this.bn1.forward(this.conv1.forward(input)).relu();
    const spatial = this.bn2.forward(this.conv2.forward(reduced)).relu();
    return this.bn3.forward(this.conv3.forward(spatial));
  }
}

/** Stage strides are replaced by dilation from this stage on (torchvision's replace_stride_with_dilation). */
function dilatedStages(outputStride: OutputStride): [boolean, boolean, boolean] {
  return outputStride === 16 ? [false, false, true] : [false, true, true];
}

/**
 * A torchvision ResNet without its classifier (avgpool, fc): stem, layer1 (stride 4, `low`) ...
 * layer4 (stride `outputStride`, `high`). Initialised as torchvision does (kaiming_normal_ fan_out
 * convolutions, BN weight 1 bias 0); seed with manualSeed for reproducible draws.
 */
export class ResNetBackbone extends Backbone {
  readonly kind: ResNetKind;
  readonly outputStride: OutputStride;
  readonly widthMultiplier: number;
  readonly inChannels = 3;
  readonly lowChannels: number;
  readonly highChannels: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  /** The four stages layer1..layer4, each a Sequential of blocks named '0', '1', ... */
  readonly stages: readonly [Sequential, Sequential, Sequential, Sequential];

  constructor(config: ResNetBackboneConfig) {
    super();
    this.kind = config.kind;
    this.outputStride = config.outputStride;
    this.widthMultiplier = config.widthMultiplier ?? 1;
    const layout = RESNET_LAYOUT[config.kind];
    const Block = layout.bottleneck ? Bottleneck : BasicBlock;
    const stemChannels = scaleChannels(STEM_CHANNELS, this.widthMultiplier);
    this.conv1 = this.registerModule('conv1', convNoBias(this.inChannels, stemChannels, 7, 2));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(stemChannels));
    const dilate = [false, ...dilatedStages(config.outputStride)];
    let inChannels = stemChannels;
    let dilation = 1;
    const stages: Sequential[] = [];
    STAGE_PLANES.forEach((basePlanes, index) => {
      const planes = scaleChannels(basePlanes, this.widthMultiplier);
      const previousDilation = dilation;
      let stride = index === 0 ? 1 : 2;
      if (dilate[index]) {
        dilation *= stride;
        stride = 1;
      }
      const outChannels = planes * Block.expansion;
      const downsample = stride !== 1 || inChannels !== outChannels
        ? new Sequential(convNoBias(inChannels, outChannels, 1, stride), new BatchNorm2d(outChannels)) : null;
      const blocks: Layer[] = [new Block(inChannels, planes, stride, previousDilation, downsample)];
      for (let b = 1; b < layout.blocks[index]; b++) blocks.push(new Block(outChannels, planes, 1, dilation, null));
      stages.push(this.registerModule(`layer${index + 1}`, new Sequential(...blocks)));
      inChannels = outChannels;
    });
    this.stages = stages as [Sequential, Sequential, Sequential, Sequential];
    this.lowChannels = scaleChannels(STAGE_PLANES[0], this.widthMultiplier) * Block.expansion;
    this.highChannels = inChannels;
  }

  forward(images: Tensor): BackboneFeatures {
    this.checkInput(images);
    return scope(() => {
      const stem = maxPool2d(this.bn1.forward(this.conv1.forward(images)).relu(), 3, { stride: 2, padding: 1 }); // [B, C, ceil(H/4), ceil(W/4)]
      const low = this.stages[0].forward(stem);
      let high = low;
      for (const stage of this.stages.slice(1)) high = stage.forward(high); // [B, highChannels, ceil(H/os), ceil(W/os)]
      return { low, high };
    });
  }
}
