/**
 * What a user sees of a run or a sweep, from plain data (no tensors, no libtorch): prediction images,
 * training curves, the summary table, and a sweep's results.json as one self-contained report.html
 * (charts, statistics over seeds, embedding maps) and results.csv.
 */
export { DEFAULT_OVERLAY_OPACITY, blendOverlay, colourMaskPng, overlayPng, type ClassMask, type RgbColour } from './mask-images.js';
export { trainingCurvesSvg, type MetricRecord, type TrainingStage } from './curves.js';
export { formatSummaryTable, type RunSummary } from './summary.js';
export { RESULTS_VERSION, type CurvePoint, type EmbeddingMap, type EvaluationSummary, type PredictionRow, type SweepCell, type SweepResults } from './results.js';
export { parseSweepResults, sweepResultsSchema } from './results-schema.js';
export { BASELINE_METHOD, classIouMeans, gainsOverBaseline, meanAndStd, summariseBudgets, type BaselineGain, type BudgetSummary, type ClassIouRow, type MeanStd } from './aggregate.js';
export { DEFAULT_UMAP_EPOCHS, DEFAULT_UMAP_NEIGHBOURS, embed2d, type Embed2dOptions } from './embedding-map.js';
export { embeddingMapsSvg, gainOverBaselineSvg, miouByBudgetSvg, trainingCurvesAtSmallestBudgetSvg } from './sweep-charts.js';
export { renderReport, writeReport, type WriteReportOptions } from './report-html.js';
export { RESULTS_CSV_COLUMNS, resultsCsv } from './results-csv.js';
export { resultsMarkdown } from './results-markdown.js';
