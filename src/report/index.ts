/** What a user sees of a run, from plain data (no tensors, no libtorch): prediction images, training curves, the summary table. */
export { DEFAULT_OVERLAY_OPACITY, blendOverlay, colourMaskPng, overlayPng, type ClassMask, type RgbColour } from './mask-images.js';
export { trainingCurvesSvg, type MetricRecord, type TrainingStage } from './curves.js';
export { formatSummaryTable, type RunSummary } from './summary.js';
