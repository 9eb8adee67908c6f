// The Markdown table from hand-made cells: means, sample stds and paired gains computed by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SweepCell } from './results.js';
import { resultsMarkdown } from './results-markdown.js';

const evaluation = (mIoU: number) => ({ mIoU, pixelAccuracy: 0.8, meanClassAccuracy: 0.5, frequencyWeightedIoU: 0.6, classIoU: [mIoU], images: 10, seconds: 1 });
const cell = (method: string, seed: number, test: number, val: number): SweepCell => ({
  method, labelled: 20, seed, steps: { pretrain: 0, finetune: 10 }, val: evaluation(val), test: evaluation(test),
  seconds: { pretrain: 0, finetune: 120, total: 120 }, curve: [], valCurve: [],
});

test('resultsMarkdown: one row per (K, method), mean ± std in %, paired gain, best test in bold', () => {
  const cells = [cell('ce', 0, 0.30, 0.31), cell('ce', 1, 0.34, 0.35), cell('within', 0, 0.33, 0.30), cell('within', 1, 0.35, 0.32)];
  const table = resultsMarkdown({ cells, methods: ['ce', 'within'], budgets: [20] }).trim().split('\n');
  assert.equal(table[0], '| K | method | seeds | test mIoU (%) | val mIoU (%) | test gain over ce (points) | time per cell |');
  assert.equal(table[1], '| ---: | --- | ---: | ---: | ---: | ---: | ---: |');
  // ce: test 30, 34 -> 32.0 ± 2.8 (std sqrt(8) = 2.83); val 31, 35 -> 33.0 ± 2.8
  assert.equal(table[2], '| 20 | ce | 2 | 32.0 ± 2.8 | 33.0 ± 2.8 | baseline | 2 min 00 s |');
  // within: test 33, 35 -> 34.0 ± 1.4 (best); gains +3, +1 -> +2.0 ± 1.4
  assert.equal(table[3], '| 20 | within | 2 | **34.0 ± 1.4** | 31.0 ± 1.4 | +2.0 ± 1.4 | 2 min 00 s |');
});

test('resultsMarkdown: a time measured beside other work (median load above cores + 1) is marked and explained; none, no note', () => {
  const loaded = (method: string, seed: number, load: number | null): SweepCell => ({ ...cell(method, seed, 0.3, 0.3), load });
  // 2 cores: 3.0 is the sweep's threads + loader spikes (not marked), 3.5 is more than one thread beyond the cores.
  const cells = [loaded('ce', 0, 2.2), loaded('ce', 1, 3.0), loaded('within', 0, 3.5), loaded('within', 1, null)];
  const lines = resultsMarkdown({ cells, methods: ['ce', 'within'], budgets: [20], cores: 2 }).trim().split('\n');
  assert.ok(lines[2]?.endsWith('| 2 min 00 s |'), lines[2]);
  assert.ok(lines[3]?.endsWith('| 2 min 00 s † |'), lines[3]);
  assert.match(lines.at(-1) ?? '', /^† At least one seed of this cell ran while the machine's 1-minute load average stayed above its 2 cores \+ 1/);
  // Without the cores (older results.json) nothing can be told: no mark, no note.
  const older = resultsMarkdown({ cells, methods: ['ce', 'within'], budgets: [20] });
  assert.ok(!older.includes('†'), older);
});
