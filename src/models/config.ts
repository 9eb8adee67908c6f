/**
 * Typed configurations of the segmentation network and its heads. The core takes these objects as
 * they are; parsing untrusted input (CLI flags, config files) into them is the edge's job. Variants
 * are picked with a `switch` over `kind` (see build.ts), never through a string registry.
 */
import { ConfigError } from '../errors.js';

/** Ratio of input size to high-level feature size; 8 or 16 as in DeepLab (stride replaced by dilation). */
export type OutputStride = 8 | 16;

/** The ResNet depths torchvision defines with ImageNet weights we can load. */
export type ResNetKind = 'resnet18' | 'resnet34' | 'resnet50';

/** A torchvision ResNet backbone. */
export interface ResNetBackboneConfig {
  kind: ResNetKind;
  outputStride: OutputStride;
  /**
   * Scales every channel count (round(c * w), at least 1) for small CPU experiments; parameter names
   * stay torchvision's. Default 1 (torchvision's widths; only then do ImageNet weights fit).
   */
  widthMultiplier?: number;
}

/** A torchvision MobileNetV2 backbone (backbones/mobilenetv2.ts). */
export interface MobileNetV2BackboneConfig {
  kind: 'mobilenetv2';
  outputStride: OutputStride;
  /**
   * torchvision's `width_mult`: channels become multiples of 8 (`_make_divisible`), the final 1x1 conv
   * keeps 1280 below 1. Default 1 (torchvision's widths; only then do ImageNet weights fit).
   */
  widthMultiplier?: number;
}

/** Backbone variants (a discriminated union on `kind`). */
export type BackboneConfig = ResNetBackboneConfig | MobileNetV2BackboneConfig;

/** Every backbone kind. */
export type BackboneKind = BackboneConfig['kind'];

/**
 * The DeepLabV3+ network: backbone + ASPP + decoder. Widths default to the paper's scaled by the
 * backbone's `widthMultiplier` (scaleChannels(256, w), scaleChannels(48, w)), so a narrow backbone
 * gets a narrow head instead of a 256-channel decoder that dominates the step; an explicit width wins.
 */
export interface DeepLabV3PlusConfig {
  backbone: BackboneConfig;
  /** Channels of every ASPP branch and of its projection. Default scaleChannels(256, w) (256: DeepLabV3, Chen et al. 2017). */
  asppChannels?: number;
  /** Channels of the 1x1 reduction of the stride-4 features. Default scaleChannels(48, w) (48: DeepLabV3+, Chen et al. 2018, Table 1). */
  reductionChannels?: number;
  /** Channels of the two 3x3 refinement convolutions (the network's output). Default scaleChannels(256, w) (256: DeepLabV3+, Sec. 3.1). */
  decoderChannels?: number;
  /** Dropout after the ASPP projection. Default 0.1 (TF DeepLab's keep_prob 0.9, which the paper's code builds on). */
  asppDropout?: number;
}

/**
 * The projection head of Zhao et al. 2021 (arXiv:2012.06985, Sec. 4): `layers` 1x1 convolutions of
 * `width` channels, ReLU between them, then unit L2 normalisation over channels.
 */
export interface ProjectionHeadConfig {
  kind: 'projection';
  /** Number of 1x1 convolutions. Default 3 (the paper). */
  layers?: number;
  /** Channels of every convolution, hence of the embeddings. Default 256 (the paper). */
  width?: number;
  /** BatchNorm after each hidden convolution (before its ReLU). Default false (the paper). */
  batchNorm?: boolean;
}

/** The pixel-wise classifier: one 1x1 convolution to class logits. */
export interface ClassifierConfig {
  kind: 'classifier';
  numClasses: number;
}

/** Head variants (a discriminated union on `kind`). */
export type HeadConfig = ProjectionHeadConfig | ClassifierConfig;

/** A network with a head: what stage 1 (projection) and stage 2 (classifier) train. */
export interface SegmentationModelConfig {
  network: DeepLabV3PlusConfig;
  head: HeadConfig;
}

/** Paper defaults of the DeepLabV3+ widths (at backbone width 1; see deeplabWidths for other widths). */
export const DEEPLAB_DEFAULTS = { asppChannels: 256, reductionChannels: 48, decoderChannels: 256, asppDropout: 0.1 } as const;
/** Paper defaults of the projection head (Zhao et al. 2021: three 1x1 convs of 256 channels). */
export const PROJECTION_DEFAULTS = { layers: 3, width: 256, batchNorm: false } as const;

/** Scales a channel count by a width multiplier: round(channels * multiplier), at least 1. */
export function scaleChannels(channels: number, multiplier: number): number {
  return Math.max(1, Math.round(channels * multiplier));
}

/** The ASPP and decoder widths of `config`: explicit values, else the paper's scaled by the backbone's widthMultiplier. */
export function deeplabWidths(config: DeepLabV3PlusConfig): { asppChannels: number; reductionChannels: number; decoderChannels: number } {
  const width = config.backbone.widthMultiplier ?? 1;
  return {
    asppChannels: config.asppChannels ?? scaleChannels(DEEPLAB_DEFAULTS.asppChannels, width),
    reductionChannels: config.reductionChannels ?? scaleChannels(DEEPLAB_DEFAULTS.reductionChannels, width),
    decoderChannels: config.decoderChannels ?? scaleChannels(DEEPLAB_DEFAULTS.decoderChannels, width),
  };
}

/** @throws ConfigError unless `value` is a positive integer. */
export function expectPositiveInteger(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`${what} must be a positive integer, got ${value}`);
}

/** @throws ConfigError unless outputStride is 8 or 16 and widthMultiplier is positive and finite. */
export function validateBackboneConfig(config: BackboneConfig): void {
  if (config.outputStride !== 8 && config.outputStride !== 16) {
    throw new ConfigError(`backbone.outputStride must be 8 or 16, got ${String(config.outputStride)}`);
  }
  const width = config.widthMultiplier ?? 1;
  if (!(Number.isFinite(width) && width > 0)) {
    throw new ConfigError(`backbone.widthMultiplier must be a positive number, got ${width}; use 1 for torchvision's widths`);
  }
}
