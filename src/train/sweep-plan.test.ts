// Every cell of a sweep trains what its method names: the cell's pretraining loss is its method's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
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

test('camvid-sweep-long plans the cells of the committed 3200-step probes (their configs, apart from the data path)', () => {
  const preset = parseSweepConfig(sweepPreset('camvid-sweep-long'));
  for (const [file, labelled, seeds] of [['k20-3200/w3200.yaml', 20, 10], ['k50-3200/k50.yaml', 50, 4]] as const) {
    const probe = parseSweepConfig(parse(readFileSync(new URL(`../../docs/results/probes/${file}`, import.meta.url), 'utf8')));
    const cells = (sweep: typeof probe) => budgetCells(sweep, '/tmp/sweep', labelled, 3200)
      .map((cell) => ({ id: cell.id, config: { ...cell.config, data: { ...cell.config.data, root: '<data>' } } }));
    const planned = cells(preset);
    assert.equal(planned.length, 2 * seeds, file);
    assert.deepEqual(planned, cells(probe), file);
  }
  assert.deepEqual(preset.budgets, [20, 50]);
  assert.deepEqual(preset.ceStepsGrid, [3200]);
});
