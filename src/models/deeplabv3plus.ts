/**
 * DeepLabV3+ (Chen et al. 2018, arXiv:1802.02611): backbone -> ASPP on the high-level features ->
 * decoder fusing the stride-4 features. Returns decoder features at stride 4; heads are separate
 * modules (heads.ts). State-dict keys: backbone.*, aspp.*, decoder.*.
 */
import { Module } from '../nn/index.js';
import type { Tensor } from '../torch/tensor.js';
import { scope } from '../torch/scope.js';
import type { Backbone } from './backbones/backbone.js';
import { ASPP, asppRates } from './aspp.js';
import { DeepLabV3PlusDecoder } from './decoder.js';
import { DEEPLAB_DEFAULTS, deeplabWidths, expectPositiveInteger, type DeepLabV3PlusConfig } from './config.js';
import { ConfigError } from '../errors.js';

/** The segmentation network: images [B, 3, H, W] -> features [B, outChannels, ceil(H/4), ceil(W/4)]. */
export class DeepLabV3Plus extends Module {
  /** The configuration it was built from (widths filled with their defaults, scaled by the backbone width). */
  readonly config: Readonly<Required<DeepLabV3PlusConfig>>;
  readonly backbone: Backbone;
  readonly aspp: ASPP;
  readonly decoder: DeepLabV3PlusDecoder;
  /** Channels of the output features (decoderChannels). */
  readonly outChannels: number;
  /** Input size / output size: always 4 (the output size rounded up). */
  readonly featureStride = 4;

  /** Takes ownership of `backbone`. @throws ConfigError for non-positive widths or a dropout outside [0, 1). */
  constructor(backbone: Backbone, config: DeepLabV3PlusConfig) {
    super();
    const filled: Required<DeepLabV3PlusConfig> = {
      backbone: config.backbone,
      ...deeplabWidths(config),
      asppDropout: config.asppDropout ?? DEEPLAB_DEFAULTS.asppDropout,
    };
    expectPositiveInteger(filled.asppChannels, 'asppChannels');
    expectPositiveInteger(filled.reductionChannels, 'reductionChannels');
    expectPositiveInteger(filled.decoderChannels, 'decoderChannels');
    if (!(filled.asppDropout >= 0 && filled.asppDropout < 1)) {
      throw new ConfigError(`asppDropout must be in [0, 1), got ${filled.asppDropout}`);
    }
    this.config = filled;
    this.backbone = this.registerModule('backbone', backbone);
    this.aspp = this.registerModule('aspp',
      new ASPP(backbone.highChannels, asppRates(backbone.outputStride), filled.asppChannels, filled.asppDropout));
    this.decoder = this.registerModule('decoder',
      new DeepLabV3PlusDecoder(backbone.lowChannels, filled.asppChannels, filled.reductionChannels, filled.decoderChannels));
    this.outChannels = filled.decoderChannels;
  }

  /**
   * images [B, 3, H, W] float32, any H, W >= 1 (borrowed) -> features [B, outChannels, ceil(H/4),
   * ceil(W/4)] (owned by the caller). Training mode needs B >= 2: the
   * image-pooling branch normalises one value per channel and image (as in PyTorch).
   * @throws ShapeError for other shapes, or B = 1 in training mode.
   */
  forward(images: Tensor): Tensor {
    return scope(() => {
      const { low, high } = this.backbone.forward(images);
      return this.decoder.forward(low, this.aspp.forward(high));
    });
  }
}
