/**
 * Walks a fine-tuned SegmentationModel's module tree (src/models, src/nn) and emits the equivalent
 * eval-mode ONNX graph: every Conv2d directly followed by a BatchNorm2d becomes one Conv with the
 * BatchNorm folded in (in float64, rounded once to float32), ReLU -> Relu, ReLU6 -> Clip(0, 6), Dropout
 * is left out (the identity in eval mode), residual adds, max pooling, ASPP (its image-pooling branch as
 * GlobalAveragePool + Expand: a bilinear resize of a 1x1 map is a broadcast), the decoder's resize of
 * ASPP to the stride-4 size and the final resize of logits to the input size (Resize linear,
 * half_pixel = align_corners false, sizes read from the graph's own Shape so every H, W works).
 * The model's rule for sizes no stride divides (symmetric padding, so each stride-2 op gives
 * ceil(size / 2)) is ONNX's Conv/MaxPool arithmetic with the same pads: no extra Pad is needed.
 *
 * A layer kind the walker does not know is a ConfigError naming its module path, never a silent skip.
 */
import { BatchNorm2d, Conv2d, Dropout, Identity, type Layer, ReLU, ReLU6, Sequential, AdaptiveAvgPool2d } from '../nn/index.js';
import { ASPP, ASPPPooling } from '../models/aspp.js';
import { BasicBlock, Bottleneck, ResNetBackbone } from '../models/backbones/resnet.js';
import { InvertedResidual, MobileNetV2Backbone } from '../models/backbones/mobilenetv2.js';
import type { Backbone } from '../models/backbones/backbone.js';
import { DECODER_ALIGN_CORNERS, type DeepLabV3PlusDecoder } from '../models/decoder.js';
import type { DeepLabV3Plus } from '../models/deeplabv3plus.js';
import { Classifier } from '../models/heads.js';
import { OUTPUT_ALIGN_CORNERS, type SegmentationModel } from '../models/segmentation-model.js';
import { ConfigError } from '../errors.js';
import type { Tensor } from '../torch/tensor.js';
import type { OnnxGraphBuilder } from './onnx-graph.js';

/** ONNX Resize's coordinate transformation for PyTorch's align_corners flag (half_pixel = false). */
function coordinateMode(alignCorners: boolean): string {
  return alignCorners ? 'align_corners' : 'half_pixel';
}

function floats(value: Tensor, what: string): Float32Array {
  const data = value.toTypedArray();
  if (!(data instanceof Float32Array)) throw new ConfigError(`ONNX export: ${what} is ${value.dtype}, expected float32`);
  return data;
}

/** Emits the nodes of one model into a builder. Values are named after module paths. */
export class ModelGraphEmitter {
  private readonly scalars = new Map<number, string>();

  constructor(private readonly graph: OnnxGraphBuilder) {}

  /** images [N, 3, H, W] -> logits [N, K, H, W]: network, classifier, final resize to the input size. */
  segmentationModel(model: SegmentationModel, images: string): string {
    if (!(model.head instanceof Classifier)) {
      throw new ConfigError(`ONNX export needs a fine-tuned model with a classifier head, got a ${model.head.constructor.name}; ` +
        'export a stage-2 checkpoint (contraseg finetune) instead of a pretraining one');
    }
    const features = this.network(model.network, images, 'network');
    const logits = this.classifier(model.head, features, 'head');
    return this.resizeLike(logits, images, OUTPUT_ALIGN_CORNERS, 'logits_resized');
  }

  /** DeepLabV3+: backbone -> ASPP on `high` -> decoder with `low`: [N, decoderChannels, ceil(H/4), ceil(W/4)]. */
  network(network: DeepLabV3Plus, images: string, path: string): string {
    const { low, high } = this.backbone(network.backbone, images, `${path}.backbone`);
    const aspp = this.aspp(network.aspp, high, `${path}.aspp`);
    return this.decoder(network.decoder, low, aspp, `${path}.decoder`);
  }

  /** A ResNet or MobileNetV2 backbone: the stride-4 `low` and stride-`outputStride` `high` values (see backbone.ts). */
  backbone(backbone: Backbone, images: string, path: string): { low: string; high: string } {
    if (backbone instanceof ResNetBackbone) {
      const stem = this.graph.node('Relu', [this.conv(backbone.conv1, images, `${path}.conv1`, backbone.bn1)], {}, `${path}.relu`);
      const pooled = this.graph.node('MaxPool', [stem], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, `${path}.maxpool`);
      const low = this.layer(backbone.stages[0], pooled, `${path}.layer1`);
      let high = low;
      backbone.stages.slice(1).forEach((stage, index) => { high = this.layer(stage, high, `${path}.layer${index + 2}`); });
      return { low, high };
    }
    if (backbone instanceof MobileNetV2Backbone) {
      let current = images;
      let low = images;
      backbone.features.layers.forEach((layer, index) => {
        current = this.layer(layer, current, `${path}.features.${index}`);
        if (index === 3) low = current; // features[3]: the last stride-4 block (see mobilenetv2.ts)
      });
      return { low, high: current };
    }
    throw new ConfigError(`ONNX export: backbone ${backbone.constructor.name} at ${path} is not supported (resnet18/34/50, mobilenetv2 are)`);
  }

  /** ASPP: five parallel branches, concatenated, projected (dropout left out). */
  aspp(aspp: ASPP, input: string, path: string): string {
    const branches = aspp.convs.items.map((branch, index) => this.layer(branch, input, `${path}.convs.${index}`));
    const fused = this.graph.node('Concat', branches, { axis: 1 }, `${path}.cat`); // [N, 5 * out, h, w]
    return this.layer(aspp.project, fused, `${path}.project`);
  }

  /** The DeepLabV3+ decoder: ASPP resized to the stride-4 size, concatenated with the reduced `low`, refined. */
  decoder(decoder: DeepLabV3PlusDecoder, low: string, high: string, path: string): string {
    const upsampled = this.resizeLike(high, low, DECODER_ALIGN_CORNERS, `${path}.upsampled`); // [N, high, h4, w4]
    const reduced = this.layer(decoder.reduce, low, `${path}.reduce`);
    const fused = this.graph.node('Concat', [upsampled, reduced], { axis: 1 }, `${path}.cat`);
    return this.layer(decoder.refine, fused, `${path}.refine`);
  }

  /** One layer of the tree; subclasses are matched before their base classes (ASPPPooling is a Sequential). */
  layer(layer: Layer, input: string, path: string): string {
    if (layer instanceof ASPPPooling) return this.asppPooling(layer, input, path);
    if (layer instanceof Sequential) return this.sequential(layer.layers, input, path);
    if (layer instanceof BasicBlock || layer instanceof Bottleneck) return this.residualBlock(layer, input, path);
    if (layer instanceof InvertedResidual) return this.invertedResidual(layer, input, path);
    if (layer instanceof Conv2d) return this.conv(layer, input, path);
    if (layer instanceof BatchNorm2d) return this.batchNorm(layer, input, path);
    if (layer instanceof ReLU) return this.graph.node('Relu', [input], {}, path);
    if (layer instanceof ReLU6) return this.graph.node('Clip', [input, this.scalar(0), this.scalar(6)], {}, path);
    if (layer instanceof Dropout || layer instanceof Identity) return input; // identities in eval mode
    if (layer instanceof AdaptiveAvgPool2d && layer.outputSize[0] === 1 && layer.outputSize[1] === 1) {
      return this.graph.node('GlobalAveragePool', [input], {}, path);
    }
    if (layer instanceof ASPP) return this.aspp(layer, input, path);
    if (layer instanceof Classifier) return this.classifier(layer, input, path);
    throw new ConfigError(`ONNX export: no ONNX translation for ${layer.constructor.name} at ${path}; ` +
      'add a case to src/deploy/export-graph.ts (and a parity test) before exporting this model');
  }

  /** A chain; Conv2d + BatchNorm2d pairs are folded into one Conv. */
  private sequential(layers: readonly Layer[], input: string, path: string): string {
    let current = input;
    for (let index = 0; index < layers.length; index++) {
      const layer = layers[index] as Layer;
      const next = layers[index + 1];
      if (layer instanceof Conv2d && next instanceof BatchNorm2d) {
        current = this.conv(layer, current, `${path}.${index}`, next);
        index++;
      } else {
        current = this.layer(layer, current, `${path}.${index}`);
      }
    }
    return current;
  }

  private residualBlock(block: BasicBlock | Bottleneck, input: string, path: string): string {
    const shortcut = block.downsample === null ? input : this.layer(block.downsample, input, `${path}.downsample`);
    let residual = this.graph.node('Relu', [this.conv(block.conv1, input, `${path}.conv1`, block.bn1)], {}, `${path}.relu1`);
    if (block instanceof Bottleneck) {
      residual = this.graph.node('Relu', [this.conv(block.conv2, residual, `${path}.conv2`, block.bn2)], {}, `${path}.relu2`);
      residual = this.conv(block.conv3, residual, `${path}.conv3`, block.bn3);
    } else {
      residual = this.conv(block.conv2, residual, `${path}.conv2`, block.bn2);
    }
    return this.graph.node('Relu', [this.graph.node('Add', [residual, shortcut], {}, `${path}.add`)], {}, `${path}.out`);
  }

  private invertedResidual(block: InvertedResidual, input: string, path: string): string {
    const output = this.layer(block.conv, input, `${path}.conv`);
    return block.useResidual ? this.graph.node('Add', [output, input], {}, `${path}.add`) : output;
  }

  /** Global average, 1x1 conv + BN + ReLU, broadcast back to the input's h x w (exact, unlike a resize's weights). */
  private asppPooling(pooling: ASPPPooling, input: string, path: string): string {
    const pooled = this.sequential(pooling.layers, input, path); // [N, out, 1, 1]
    const shape = this.graph.node('Concat', [
      this.graph.node('Shape', [pooled], { start: 0, end: 2 }, `${path}.batch_channels`),
      this.graph.node('Shape', [input], { start: 2, end: 4 }, `${path}.size`),
    ], { axis: 0 }, `${path}.shape`);
    return this.graph.node('Expand', [pooled, shape], {}, `${path}.broadcast`);
  }

  /** Bilinear resize of `value` [N, C, h, w] to the spatial size of `like` [*, *, H, W]. */
  private resizeLike(value: string, like: string, alignCorners: boolean, name: string): string {
    const sizes = this.graph.node('Concat', [
      this.graph.node('Shape', [value], { start: 0, end: 2 }, `${name}.batch_channels`),
      this.graph.node('Shape', [like], { start: 2, end: 4 }, `${name}.target_size`),
    ], { axis: 0 }, `${name}.sizes`);
    return this.graph.node('Resize', [value, '', '', sizes], { mode: 'linear', coordinate_transformation_mode: coordinateMode(alignCorners) }, name);
  }

  /** A Conv (with `bn` folded in when given): weight [out, in / groups, kh, kw], bias [out]. */
  conv(conv: Conv2d, input: string, path: string, bn?: BatchNorm2d): string {
    const weight = floats(conv.weight, `${path}.weight`);
    const bias = conv.bias === null ? null : floats(conv.bias, `${path}.bias`);
    const folded = bn === undefined ? { weight, bias } : foldBatchNorm(weight, bias, bn, conv.outChannels, `${path}.bn`);
    const dims = [conv.outChannels, conv.inChannels / conv.groups, ...conv.kernelSize];
    const inputs = [input, this.graph.addFloatInitializer(`${path}.weight`, folded.weight, dims)];
    if (folded.bias !== null) inputs.push(this.graph.addFloatInitializer(`${path}.bias`, folded.bias, [conv.outChannels]));
    const [padHeight, padWidth] = conv.padding;
    return this.graph.node('Conv', inputs, {
      kernel_shape: [...conv.kernelSize], strides: [...conv.stride], dilations: [...conv.dilation], group: conv.groups,
      pads: [padHeight, padWidth, padHeight, padWidth],
    }, path);
  }

  /** The classifier's convolution, then its eval-mode logit offset (an Add of [1, K, 1, 1], as Classifier.forward adds it), if any. */
  private classifier(classifier: Classifier, input: string, path: string): string {
    const logits = this.conv(classifier.conv, input, `${path}.conv`);
    const offset = classifier.logitOffset;
    if (offset === null) return logits;
    const constant = this.graph.addFloatInitializer(`${path}.logit_offset`, Float32Array.from(offset), [1, classifier.numClasses, 1, 1]);
    return this.graph.node('Add', [logits, constant], {}, `${path}.logit_adjusted`);
  }

  /** A BatchNorm2d not preceded by a convolution: an eval-mode BatchNormalization node. */
  private batchNorm(bn: BatchNorm2d, input: string, path: string): string {
    const channels = [bn.numFeatures];
    const parameters = [bn.weight, bn.bias, bn.runningMean, bn.runningVar].map((value, index) =>
      this.graph.addFloatInitializer(`${path}.${['weight', 'bias', 'running_mean', 'running_var'][index]}`, floats(value, path), channels));
    return this.graph.node('BatchNormalization', [input, ...parameters], { epsilon: bn.eps }, path, ['epsilon']);
  }

  /** A float32 scalar initializer, one per value (Clip's bounds). */
  private scalar(value: number): string {
    let name = this.scalars.get(value);
    if (name === undefined) {
      name = this.graph.addFloatInitializer(`const_f32_${value}`, Float32Array.of(value), []);
      this.scalars.set(value, name);
    }
    return name;
  }
}

/**
 * BN(conv(x)) in eval mode as one convolution: w' = w * s, b' = (b - mean) * s + beta with
 * s = gamma / sqrt(var + eps), computed in float64 and rounded once to float32.
 */
export function foldBatchNorm(weight: Float32Array, bias: Float32Array | null, bn: BatchNorm2d, outChannels: number, what: string):
  { weight: Float32Array; bias: Float32Array } {
  if (bn.numFeatures !== outChannels) throw new ConfigError(`ONNX export: ${what} has ${bn.numFeatures} channels after a ${outChannels}-channel conv`);
  const [gamma, beta, mean, variance] = [bn.weight, bn.bias, bn.runningMean, bn.runningVar].map((value) => floats(value, what)) as
    [Float32Array, Float32Array, Float32Array, Float32Array];
  const perChannel = weight.length / outChannels;
  const foldedWeight = new Float32Array(weight.length);
  const foldedBias = new Float32Array(outChannels);
  for (let channel = 0; channel < outChannels; channel++) {
    const scale = (gamma[channel] as number) / Math.sqrt((variance[channel] as number) + bn.eps);
    for (let index = channel * perChannel; index < (channel + 1) * perChannel; index++) foldedWeight[index] = (weight[index] as number) * scale;
    foldedBias[channel] = ((bias?.[channel] ?? 0) - (mean[channel] as number)) * scale + (beta[channel] as number);
  }
  return { weight: foldedWeight, bias: foldedBias };
}
