/** Datasets in their distributed layouts, label-efficient splits, statistics and the training loader. */
export type { Sample, SegmentationDataset } from './types.js';
export { FileDataset } from './file-dataset.js';
export { openDataset, DATASET_KINDS, type DatasetSource } from './open-dataset.js';
export { openCamVid } from './camvid.js';
export { openVoc, type VocMaskFolder } from './voc.js';
export { openCityscapes } from './cityscapes.js';
export { openFolder } from './folder.js';
export { CAMVID_CLASSES, VOC_CLASSES, CITYSCAPES_CLASSES, vocPalette, type ClassTable } from './label-maps.js';
export { splitOrder, chooseLabelled, writeSplitFile, readSplitFile, subsetDataset, type LabelledAmount } from './splits.js';
export { datasetStats, type DatasetStats, type ClassShare } from './stats.js';
export { createLoader, type Loader, type LoaderOptions, type LoaderViews, type Batch, type PairBatch, type LoaderPosition } from './loader.js';
export { IMAGENET_MEAN, IMAGENET_STD, normalisedChw } from './batch.js';
export { encodePng, decodePngValues } from './png.js';
