import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as report from './index.js';

test('report index exports the public surface', () => {
  assert.deepEqual(Object.keys(report).sort(), [
    'BASELINE_METHOD', 'DEFAULT_OVERLAY_OPACITY', 'DEFAULT_UMAP_EPOCHS', 'DEFAULT_UMAP_NEIGHBOURS', 'RESULTS_CSV_COLUMNS', 'RESULTS_VERSION',
    'blendOverlay', 'classIouMeans', 'colourMaskPng', 'embed2d', 'embeddingMapsSvg', 'formatSummaryTable', 'gainOverBaselineSvg', 'gainsOverBaseline',
    'meanAndStd', 'miouByBudgetSvg', 'overlayPng', 'parseSweepResults', 'renderReport', 'resultsCsv', 'resultsMarkdown', 'summariseBudgets', 'sweepResultsSchema',
    'trainingCurvesAtSmallestBudgetSvg', 'trainingCurvesSvg', 'writeReport',
  ]);
});
