import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError } from '../errors.js';
import { formatSummaryTable, type RunSummary } from './summary.js';

const CLASSES = ['sky', 'road', 'pedestrian'];
const CONTRASTIVE: RunSummary = { name: 'contrastive', classIou: [0.91234, null, 0.4], miou: 0.65617, pixelAccuracy: 0.9, wallSeconds: 3723.4 };
const BASELINE: RunSummary = { name: 'cross-entropy', classIou: [0.9, 0.8, 0.35], miou: 0.6833, pixelAccuracy: 0.87951 };

test('formatSummaryTable: two runs side by side, null IoU and unknown wall time as "-"', () => {
  assert.equal(formatSummaryTable(CLASSES, [CONTRASTIVE, BASELINE]), [
    '┌──────────────────┬─────────────┬───────────────┐',
    '│ class IoU %      │ contrastive │ cross-entropy │',
    '├──────────────────┼─────────────┼───────────────┤',
    '│ sky              │        91.2 │          90.0 │',
    '│ road             │           - │          80.0 │',
    '│ pedestrian       │        40.0 │          35.0 │',
    '├──────────────────┼─────────────┼───────────────┤',
    '│ mIoU %           │        65.6 │          68.3 │',
    '│ pixel accuracy % │        90.0 │          88.0 │',
    '│ wall time        │  1h 02m 03s │             - │',
    '└──────────────────┴─────────────┴───────────────┘',
  ].join('\n'));
});

test('formatSummaryTable: one run; wall times under a minute, in minutes, rounding up to a minute', () => {
  const table = (wallSeconds: number): string => formatSummaryTable(['a'], [{ name: 'run', classIou: [1], miou: 1, pixelAccuracy: Number.NaN, wallSeconds }]);
  assert.equal(table(12.34), [
    '┌──────────────────┬───────┐',
    '│ class IoU %      │   run │',
    '├──────────────────┼───────┤',
    '│ a                │ 100.0 │',
    '├──────────────────┼───────┤',
    '│ mIoU %           │ 100.0 │',
    '│ pixel accuracy % │     - │',
    '│ wall time        │ 12.3s │',
    '└──────────────────┴───────┘',
  ].join('\n'));
  assert.match(table(245), /│ wall time        │ 4m 05s │/);
  assert.match(table(59.96), /│ wall time        │ 1m 00s │/);
});

test('formatSummaryTable: a class-count mismatch or no run is rejected', () => {
  assert.throws(() => formatSummaryTable(CLASSES, [{ ...BASELINE, classIou: [0.5] }]),
    (error: unknown) => error instanceof ShapeError && error.message === 'run "cross-entropy" has 1 class IoUs for 3 class names (sky, road, pedestrian).');
  assert.throws(() => formatSummaryTable(CLASSES, []), ShapeError);
});

test('formatSummaryTable: NaN (eval\'s undefined IoU) prints like null', () => {
  assert.equal(formatSummaryTable(CLASSES, [{ ...CONTRASTIVE, classIou: [0.91234, Number.NaN, 0.4] }]),
    formatSummaryTable(CLASSES, [CONTRASTIVE]));
});
