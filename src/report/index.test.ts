import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as report from './index.js';

test('report index exports the public surface', () => {
  assert.deepEqual(Object.keys(report).sort(), ['DEFAULT_OVERLAY_OPACITY', 'blendOverlay', 'colourMaskPng', 'formatSummaryTable', 'overlayPng', 'trainingCurvesSvg']);
});
