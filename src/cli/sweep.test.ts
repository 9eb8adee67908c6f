import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { temporaryFolder, writeTinyCamVid } from '../data/fixtures.js';
import type { SweepResults } from '../report/results.js';
import { cli } from './testing.js';

const folder = await temporaryFolder('contraseg-sweep-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
await writeTinyCamVid(root, { train: 4, height: 32 });
const config = join(folder.path, 'sweep.json');
const { writeFileSync } = await import('node:fs');
writeFileSync(config, JSON.stringify({
  base: {
    batchSize: 2, logEvery: 1, checkpointEvery: 2, threads: 1,
    data: { kind: 'camvid', root, crop: { height: 32, width: 32 }, workers: 1 },
    model: { widthMultiplier: 0.0625 },
    pretrain: { steps: 2 }, finetune: { steps: 2 }, eval: { every: 0 },
  },
  methods: ['ce', 'within'], budgets: [2, 'all'], seeds: 2, manySeedsUpTo: 2, seedsAbove: 1,
  ceStepsGrid: [2, 4], gridImages: 2, embeddingPixels: 40, protocol: 'test protocol',
}));


test('sweep: ce steps chosen on val from the grid, every cell trained once, results.json/csv/report.html written; a rerun trains nothing', async () => {
  const out = join(folder.path, 'results');
  const work = join(folder.path, 'cells');
  const first = await cli('sweep', '--config', config, '--out', out, '--work', work);
  assert.equal(first.code, 0, first.stderr);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as SweepResults;
  // K = 2: 2 seeds x 2 methods; K = all (4 images): 1 seed x 2 methods
  assert.deepEqual(results.cells.map((cell) => `${cell.method}-${cell.labelled}-${cell.seed}`).sort(),
    ['ce-2-0', 'ce-2-1', 'ce-4-0', 'within-2-0', 'within-2-1', 'within-4-0']);
  const chosen = (results.settings.ceStepsChosen as Record<string, number>)['2'];
  assert.ok(chosen === 2 || chosen === 4);
  assert.match(results.settings.stepsPerCell as string, /picked on val from ceStepsGrid/);
  assert.ok(results.cells.filter((cell) => cell.method === 'ce' && cell.labelled === 2).every((cell) => cell.steps.finetune === chosen));
  // every method takes the ce total chosen for its budget, split half and half (base 2 + 2)
  const chosenAll = (results.settings.ceStepsChosen as Record<string, number>)['all'] ?? (results.settings.ceStepsChosen as Record<string, number>)['4'];
  for (const cell of results.cells.filter((c) => c.method === 'within')) {
    const total: number | undefined = cell.labelled === 2 ? chosen : chosenAll;
    assert.deepEqual(cell.steps, { pretrain: (total as number) / 2, finetune: (total as number) / 2 }, JSON.stringify(cell.steps));
  }
  // The machine's cores and each cell's median load average, which the report compares to flag shared cores.
  assert.equal(results.cores, cpus().length);
  assert.ok(results.cells.every((cell) => typeof cell.load === 'number' && cell.load >= 0), JSON.stringify(results.cells.map((cell) => cell.load)));
  assert.equal(results.predictions.length, 2);
  assert.deepEqual(Object.keys(results.predictions[0]?.predictions ?? {}).sort(), ['ce', 'within']);
  assert.equal(results.embeddings.length, 2);
  assert.ok(results.embeddings.every((map) => map.points.length > 0));
  assert.equal(readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n').length, 7);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /test protocol/);
  assert.match(readFileSync(join(out, 'miou.svg'), 'utf8'), /^<svg[\s\S]*test mIoU/);
  assert.match(readFileSync(join(out, 'results.md'), 'utf8'), /^\| K \| method \| seeds \| test mIoU/);
  const cellSummary = join(work, 'cells', `within-K2-s0-T${String(chosen)}`, 'summary.json');
  const mtime = statSync(cellSummary).mtimeMs;
  const again = await cli('sweep', '--config', config, '--out', out, '--work', work);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /\] start/);
  assert.equal(statSync(cellSummary).mtimeMs, mtime);
  assert.ok(existsSync(join(work, 'cells', 'ce-K2-s0-T2', 'summary.json')) && existsSync(join(work, 'cells', 'ce-K2-s0-T4', 'summary.json')));

  // Changed settings in the same work directory: the finished cells are not reused under the new ones. Execution
  // keys (threads, how often to log or checkpoint) may change.
  const sweep = JSON.parse(readFileSync(config, 'utf8')) as { base: Record<string, unknown> };
  const changed = join(folder.path, 'sweep-changed.json');
  writeFileSync(changed, JSON.stringify({ ...sweep, base: { ...sweep.base, logEvery: 2, finetune: { steps: 2, logitAdjustment: 1 } } }));
  const conflict = await cli('sweep', '--config', changed, '--out', out, '--work', work);
  assert.equal(conflict.code, 2, conflict.stderr);
  assert.match(conflict.stderr, /ce-K2-s0-T2: finetune\.logitAdjustment: 0 -> 1\n/);
  assert.doesNotMatch(conflict.stderr, /logEvery|\] start/);
  assert.match(conflict.stderr, /another --work directory, or delete those cells/);
  writeFileSync(changed, JSON.stringify({ ...sweep, base: { ...sweep.base, logEvery: 2, checkpointEvery: 3 } }));
  const executionOnly = await cli('sweep', '--config', changed, '--out', out, '--work', work);
  assert.equal(executionOnly.code, 0, executionOnly.stderr);
  assert.doesNotMatch(executionOnly.stderr, /\] start/);
});

test('sweep: a one-value ce grid is no choice, so its cell trains beside the others (--jobs 2 starts two cells at once)', async () => {
  const single = join(folder.path, 'sweep-single.json');
  const sweep = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
  writeFileSync(single, JSON.stringify({ ...sweep, methods: ['ce'], budgets: [2], ceStepsGrid: [3], gridImages: 0, embeddingPixels: 0 }));
  const out = join(folder.path, 'results-single');
  const run = await cli('sweep', '--config', single, '--out', out, '--work', join(folder.path, 'cells-single'), '--jobs', '2');
  assert.equal(run.code, 0, run.stderr);
  assert.doesNotMatch(run.stderr, /chosen on val/);
  const events = run.stderr.split('\n').filter((line) => /\] (start|done)/.test(line)).map((line) => line.replace(/ \(.*\)$/, ''));
  assert.deepEqual(events.slice(0, 2), ['[ce-K2-s0-T3] start', '[ce-K2-s1-T3] start'], run.stderr);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as SweepResults;
  assert.deepEqual(results.cells.map((cell) => cell.steps.finetune), [3, 3]);
  assert.equal((results.settings.ceStepsChosen as Record<string, number>)['2'], 3);
  assert.match(results.settings.stepsPerCell as string, /the same 3 steps at every K \(ceStepsGrid has one value: nothing was chosen\)/);
});
