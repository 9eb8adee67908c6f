// Every cell of a sweep trains what its method names: the cell's pretraining loss is its method's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSweepConfig, sweepPreset } from './sweep-config.js';
import { planCell } from './sweep.js';
import { budgetCells } from './sweep-run.js';

test('planCell: a within, cross or batch cell pretrains with that loss, and all take the ce total', () => {
  const sweep = parseSweepConfig({ ...sweepPreset('camvid-sweep'), methods: ['ce', 'within', 'cross', 'batch'] });
  for (const method of ['within', 'cross', 'batch'] as const) {
    const cell = planCell(sweep, '/tmp/sweep', method, 20, 1, 800);
    assert.equal(cell.config.method, method);
    assert.equal(cell.config.pretrain.loss, method);
    assert.equal(cell.config.pretrain.steps + cell.config.finetune.steps, 800);
  }
  const ce = planCell(sweep, '/tmp/sweep', 'ce', 20, 1, 800);
  assert.equal(ce.config.pretrain.steps, 0);
  assert.equal(ce.config.finetune.steps, 800);
});

test('budgetCells: seed by seed, every method of a seed first, so that a stopped sweep leaves whole seeds', () => {
  const sweep = parseSweepConfig({ ...sweepPreset('camvid-sweep'), methods: ['ce', 'within', 'cross'], seeds: 2 });
  assert.deepEqual(budgetCells(sweep, '/tmp/sweep', 20, 800).map((cell) => cell.id),
    ['ce-K20-s0-T800', 'within-K20-s0-T800', 'cross-K20-s0-T800', 'ce-K20-s1-T800', 'within-K20-s1-T800', 'cross-K20-s1-T800']);
});
