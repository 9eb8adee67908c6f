/** Deployment: ONNX export of a fine-tuned model and onnxruntime-node inference (`load()`, `segment()`, `dispose()`). */
export { exportOnnx, writeModelFile, type ExportOptions } from './export.js';
export { load, argmaxChannels, type LoadOptions, type Segmenter, type Segmentation, type SegmentOptions, type ImageInput, type RgbImage } from './segmenter.js';
export { METADATA_KEYS, ONNX_INPUT, ONNX_OUTPUT, decodeMetadata, encodeMetadata, type ModelMetadata } from './metadata.js';
export { ONNX_OPSET, readModelInfo, type ModelInfo } from './onnx-graph.js';
