/**
 * Builders from typed configs (a `switch` over each union's `kind`, exhaustively checked) and loading
 * of ImageNet backbone weights.
 *
 * Converting torchvision's ImageNet weights (once, with PyTorch; Debian has no python3-safetensors,
 * so this writes the format with struct + json; `safetensors.torch.save_file(sd, path)` does the same):
 *
 * ```python
 * import json, struct, torch, torchvision
 * sd = torchvision.models.resnet50(weights="IMAGENET1K_V1").state_dict()  # or resnet18 / resnet34 / mobilenet_v2
 * header, blobs, offset = {}, [], 0
 * for name, t in sd.items():
 *     data = t.contiguous().numpy().tobytes(); dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
 *     header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
 *     blobs.append(data); offset += len(data)
 * head = json.dumps(header).encode(); head += b" " * (-len(head) % 8)
 * open("resnet50.safetensors", "wb").write(struct.pack("<Q", len(head)) + head + b"".join(blobs))
 * ```
 */
import { ConfigError, CheckpointError, StateDictError } from '../errors.js';
import type { StateDict } from '../nn/index.js';
import { loadSafetensors } from '../torch/safetensors.js';
import type { Backbone } from './backbones/backbone.js';
import { ResNetBackbone } from './backbones/resnet.js';
import { MobileNetV2Backbone } from './backbones/mobilenetv2.js';
import { DeepLabV3Plus } from './deeplabv3plus.js';
import { Classifier, ProjectionHead, type SegmentationHead } from './heads.js';
import { SegmentationModel } from './segmentation-model.js';
import { validateBackboneConfig, type BackboneConfig, type DeepLabV3PlusConfig, type HeadConfig, type SegmentationModelConfig } from './config.js';

/** Keys of torchvision's ImageNet classifier, which a segmentation backbone does not have. */
export const IMAGENET_CLASSIFIER_KEYS = ['fc.weight', 'fc.bias'] as const;
/** Keys of torchvision's MobileNetV2 ImageNet classifier (`classifier.0` is its dropout). */
export const MOBILENETV2_CLASSIFIER_KEYS = ['classifier.1.weight', 'classifier.1.bias'] as const;

/** The exhaustive-switch fallback: unreachable for typed configs, a ConfigError for untyped input. */
function unknownKind(what: string, kind: never, known: string): never {
  throw new ConfigError(`unknown ${what} kind '${String(kind)}'; expected one of ${known}`);
}

/** Builds a backbone. @throws ConfigError for an unknown kind or invalid stride/width. */
export function buildBackbone(config: BackboneConfig): Backbone {
  validateBackboneConfig(config);
  switch (config.kind) {
    case 'resnet18':
    case 'resnet34':
    case 'resnet50':
      return new ResNetBackbone(config);
    case 'mobilenetv2':
      return new MobileNetV2Backbone(config);
    default: {
      const unhandled: never = config; // a type error here means a backbone kind lacks its case
      return unknownKind('backbone', (unhandled as { kind: never }).kind, 'resnet18, resnet34, resnet50, mobilenetv2');
    }
  }
}

/**
 * Builds the DeepLabV3+ network (backbone + ASPP + decoder), freshly initialised from the global
 * generator (seed with manualSeed). Free it with dispose(). @throws ConfigError for invalid values.
 */
export function buildModel(config: DeepLabV3PlusConfig): DeepLabV3Plus {
  const backbone = buildBackbone(config.backbone);
  try {
    return new DeepLabV3Plus(backbone, config);
  } catch (error) {
    backbone.dispose();
    throw error;
  }
}

/** Builds a head on features of `inChannels` channels. @throws ConfigError for an unknown kind or bad sizes. */
export function buildHead(config: HeadConfig, inChannels: number): SegmentationHead {
  switch (config.kind) {
    case 'projection':
      return new ProjectionHead(inChannels, config);
    case 'classifier':
      return new Classifier(inChannels, config.numClasses);
    default:
      return unknownKind('head', (config as { kind: never }).kind, 'projection, classifier');
  }
}

/** Builds network + head. @throws ConfigError for invalid values. */
export function buildSegmentationModel(config: SegmentationModelConfig): SegmentationModel {
  const network = buildModel(config.network);
  try {
    return new SegmentationModel(network, buildHead(config.head, network.outChannels));
  } catch (error) {
    network.dispose();
    throw error;
  }
}

/** What loadBackboneWeights skipped. */
export interface LoadBackboneWeightsResult {
  /** Keys of the file that were deliberately not loaded (torchvision's classifier: `fc.*`, or `classifier.1.*` for MobileNetV2). */
  ignored: string[];
}

/**
 * Loads backbone weights (e.g. torchvision's ImageNet ResNet converted as in this file's comment) from
 * a safetensors file into the backbone of `model`, strictly: every backbone parameter and buffer must
 * be present with its shape, and no other key may appear except torchvision's classifier (`fc.weight`
 * and `fc.bias`; `classifier.1.weight` and `classifier.1.bias` for MobileNetV2), which is ignored.
 * @throws CheckpointError naming the file if it cannot be read or does not match (the StateDictError
 * with the missing, unexpected and mismatched keys is its `cause`).
 */
export function loadBackboneWeights(model: DeepLabV3Plus | SegmentationModel | Backbone, file: string): LoadBackboneWeightsResult {
  const backbone = model instanceof SegmentationModel ? model.network.backbone : model instanceof DeepLabV3Plus ? model.backbone : model;
  const { tensors } = loadSafetensors(file);
  try {
    const classifierKeys: readonly string[] =
      backbone instanceof MobileNetV2Backbone ? MOBILENETV2_CLASSIFIER_KEYS : IMAGENET_CLASSIFIER_KEYS;
    const ignored = classifierKeys.filter((key) => tensors.has(key));
    const state: StateDict = new Map([...tensors].filter(([key]) => !ignored.includes(key)));
    try {
      backbone.loadStateDict(state);
    } catch (error) {
      if (error instanceof StateDictError) throw mismatchError(error, backbone, file);
      throw error;
    }
    return { ignored };
  } finally {
    for (const tensor of tensors.values()) tensor.dispose();
  }
}

function mismatchError(error: StateDictError, backbone: Backbone, file: string): CheckpointError {
  const show = (keys: string[]): string => keys.slice(0, 5).join(', ') + (keys.length > 5 ? `, ... (${keys.length} in all)` : '');
  const parts: string[] = [];
  if (error.missing.length > 0) parts.push(`missing ${show(error.missing)}`);
  if (error.unexpected.length > 0) parts.push(`unexpected ${show(error.unexpected)}`);
  if (error.mismatched.length > 0) parts.push(`shape mismatches ${show(error.mismatched)}`);
  const prefixed = error.unexpected.find((key) => /^(module|backbone|model|encoder)\./.test(key));
  const hint = prefixed !== undefined
    ? `keys carry a prefix ('${prefixed.split('.')[0]}.'): save the backbone's own state dict, without the prefix`
    : `the file must hold a torchvision ${describe(backbone)} state dict (converted as documented in src/models/build.ts)`;
  const wrapped = new CheckpointError(`backbone weights do not match the ${describe(backbone)} backbone (${parts.join('; ')}); ${hint}`, file);
  (wrapped as { cause?: unknown }).cause = error;
  return wrapped;
}

function describe(backbone: Backbone): string {
  if (backbone instanceof ResNetBackbone || backbone instanceof MobileNetV2Backbone) {
    return backbone.widthMultiplier === 1 ? backbone.kind : `${backbone.kind} (widthMultiplier ${backbone.widthMultiplier})`;
  }
  return backbone.constructor.name;
}
