/** Segmentation networks: ResNet and MobileNetV2 backbones, DeepLabV3+, projection head and classifier, builders. */
export type {
  OutputStride, ResNetKind, ResNetBackboneConfig, MobileNetV2BackboneConfig, BackboneConfig, BackboneKind, DeepLabV3PlusConfig, ProjectionHeadConfig,
  ClassifierConfig, HeadConfig, SegmentationModelConfig,
} from './config.js';
export { DEEPLAB_DEFAULTS, PROJECTION_DEFAULTS, deeplabWidths, scaleChannels } from './config.js';
export { Backbone, type BackboneFeatures } from './backbones/backbone.js';
export { ResNetBackbone, BasicBlock, Bottleneck } from './backbones/resnet.js';
export { MobileNetV2Backbone, InvertedResidual, makeDivisible, atrousSchedule } from './backbones/mobilenetv2.js';
export { ASPP, ASPPConv, ASPPPooling, asppRates, ASPP_RATES_OS16 } from './aspp.js';
export { DeepLabV3PlusDecoder } from './decoder.js';
export { DeepLabV3Plus } from './deeplabv3plus.js';
export { ProjectionHead, Classifier, type SegmentationHead } from './heads.js';
export { SegmentationModel } from './segmentation-model.js';
export {
  buildBackbone, buildModel, buildHead, buildSegmentationModel, loadBackboneWeights, IMAGENET_CLASSIFIER_KEYS, MOBILENETV2_CLASSIFIER_KEYS,
  type LoadBackboneWeightsResult,
} from './build.js';
