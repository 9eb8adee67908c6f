/** Modules: parameters, buffers, train/eval, state dicts, and the basic layers. */
export { Module, type MemoryFormat, type StateDict, type LoadStateDictOptions, type LoadStateDictResult } from './module.js';
export { Layer, Conv2d, BatchNorm2d, ReLU, ReLU6, Dropout, Identity, Sequential, AdaptiveAvgPool2d, LayerList, type Conv2dConfig, type BatchNorm2dConfig } from './layers.js';
export { fuseConvBn, fuseSequentialForInference } from './fuse.js';
export { defaultConvWeight, kaimingNormalFanOut, uniform, fans } from './init.js';
