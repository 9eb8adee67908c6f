import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classIouMeans, gainsOverBaseline, meanAndStd, ranBesideOtherWork, summariseBudgets, type MeanStd } from './aggregate.js';
import type { EvaluationSummary, SweepCell, SweepResults } from './results.js';

function evaluation(mIoU: number, classIoU: readonly (number | null)[] = [mIoU]): EvaluationSummary {
  return { mIoU, pixelAccuracy: 0.9, meanClassAccuracy: 0.5, frequencyWeightedIoU: 0.8, classIoU, images: 10, seconds: 1 };
}

function cell(method: string, labelled: number, seed: number, test: EvaluationSummary | null, val: number | null, seconds: number): SweepCell {
  return {
    method, labelled, seed, test,
    val: val === null ? null : evaluation(val),
    steps: { pretrain: 0, finetune: 10 },
    seconds: { pretrain: 0, finetune: seconds - 1, total: seconds },
    curve: [], valCurve: [],
  };
}

/** Hand-made sweep: budgets given out of order; within's seed-1 cell at K=20 has no test evaluation (a failed run). */
const SWEEP: Pick<SweepResults, 'cells' | 'methods' | 'budgets'> = {
  methods: ['ce', 'within'],
  budgets: [20, 5],
  cells: [
    cell('ce', 5, 1, evaluation(0.34, [0.7, null, 0.4]), 0.44, 110),
    cell('ce', 5, 0, evaluation(0.30, [0.5, null, 0.2]), 0.40, 100),
    cell('ce', 5, 2, evaluation(0.32, [0.6, 0.1, null]), 0.42, 120),
    cell('within', 5, 0, evaluation(0.36), 0.5, 200),
    cell('within', 5, 1, evaluation(0.39), 0.5, 200),
    cell('within', 5, 2, evaluation(0.39), 0.5, 200),
    cell('ce', 20, 0, evaluation(0.50), null, 300),
    cell('ce', 20, 1, evaluation(0.54), null, 310),
    cell('within', 20, 0, evaluation(0.55), 0.6, 400),
    cell('within', 20, 1, null, null, 50),
  ],
};

function assertMeanStd(actual: MeanStd | null, expected: { mean: number; std: number | null; n: number }, what: string): void {
  assert.ok(actual !== null, `${what}: null`);
  assert.equal(actual.n, expected.n, `${what}: n`);
  assert.ok(Math.abs(actual.mean - expected.mean) < 1e-12, `${what}: mean ${actual.mean}, expected ${expected.mean}`);
  if (expected.std === null) assert.equal(actual.std, null, `${what}: std`);
  else assert.ok(actual.std !== null && Math.abs(actual.std - expected.std) < 1e-12, `${what}: std ${actual.std}, expected ${expected.std}`);
}

test('meanAndStd: sample standard deviation (n - 1), null std for one value, null for none', () => {
  // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32, 32 / 7.
  assertMeanStd(meanAndStd([2, 4, 4, 4, 5, 5, 7, 9]), { mean: 5, std: Math.sqrt(32 / 7), n: 8 }, 'eight values');
  assertMeanStd(meanAndStd([0.25]), { mean: 0.25, std: null, n: 1 }, 'one value');
  assert.equal(meanAndStd([]), null);
});

test('summariseBudgets: per (method, K), budgets ascending, over the seeds that were evaluated', () => {
  const summaries = summariseBudgets(SWEEP);
  assert.deepEqual(summaries.map((summary) => `${summary.method}@${summary.labelled}`), ['ce@5', 'within@5', 'ce@20', 'within@20']);
  const [ce5, within5, ce20, within20] = summaries;
  // 0.30, 0.34, 0.32: mean 0.32, deviations -0.02, 0.02, 0, (0.0004 + 0.0004) / 2 = 0.0004.
  assertMeanStd(ce5!.testMiou, { mean: 0.32, std: 0.02, n: 3 }, 'ce@5 test');
  assertMeanStd(ce5!.valMiou, { mean: 0.42, std: 0.02, n: 3 }, 'ce@5 val');
  assert.equal(ce5!.seconds, 110);
  assert.equal(ce5!.cells, 3);
  // 0.36, 0.39, 0.39: mean 0.38, deviations -0.02, 0.01, 0.01, 0.0006 / 2 = 0.0003.
  assertMeanStd(within5!.testMiou, { mean: 0.38, std: Math.sqrt(0.0003), n: 3 }, 'within@5 test');
  assertMeanStd(ce20!.testMiou, { mean: 0.52, std: Math.sqrt(0.0008), n: 2 }, 'ce@20 test');
  assert.equal(ce20!.valMiou, null, 'no val evaluation');
  assertMeanStd(within20!.testMiou, { mean: 0.55, std: null, n: 1 }, 'within@20: one seed evaluated');
  assert.equal(within20!.cells, 2);
  assert.equal(within20!.seconds, 225, 'wall-clock of the failed cell counts');
});

test('gainsOverBaseline: differences paired by seed, only seeds both methods evaluated', () => {
  const gains = gainsOverBaseline(SWEEP);
  assert.deepEqual(gains.map((gain) => `${gain.method}@${gain.labelled}`), ['within@5', 'within@20']);
  // Differences 0.06, 0.05, 0.07: mean 0.06, std 0.01 (the unpaired std would be larger).
  assertMeanStd(gains[0]!.gain, { mean: 0.06, std: 0.01, n: 3 }, 'within@5');
  assert.deepEqual(gains[0]!.seeds, [0, 1, 2]);
  assertMeanStd(gains[1]!.gain, { mean: 0.05, std: null, n: 1 }, 'within@20');
  assert.deepEqual(gains[1]!.seeds, [0]);
  assert.deepEqual(gainsOverBaseline(SWEEP, 'cross'), [], 'no such baseline');
  // On val: ce 0.40, 0.44, 0.42 against within 0.5 at every seed: differences 0.10, 0.06, 0.08.
  assertMeanStd(gainsOverBaseline(SWEEP, 'ce', 'val')[0]!.gain, { mean: 0.08, std: 0.02, n: 3 }, 'within@5 on val');
});

test('classIouMeans: null IoUs skipped, not counted as zero; null where no seed has the class', () => {
  const rows = classIouMeans(SWEEP, 3);
  assert.equal(rows.length, 4);
  const [ce5, , , within20] = rows;
  assert.equal(ce5!.method, 'ce');
  assert.equal(ce5!.labelled, 5);
  // Class 0: 0.5, 0.7, 0.6; class 1: 0.1 (one seed); class 2: 0.2, 0.4.
  ce5!.classIoU.forEach((iou, id) => assert.ok(iou !== null && Math.abs(iou - [0.6, 0.1, 0.3][id]!) < 1e-12, `class ${id}: ${iou}`));
  assert.deepEqual(within20!.classIoU, [0.55, null, null]);
});

test('ranBesideOtherWork: a median load above cores + 1, and only when both were recorded', () => {
  assert.equal(ranBesideOtherWork({ load: 3.01 }, 2), true);
  assert.equal(ranBesideOtherWork({ load: 3 }, 2), false, 'the sweep\'s own threads plus loader spikes');
  assert.equal(ranBesideOtherWork({ load: 9 }, 8), false);
  assert.equal(ranBesideOtherWork({ load: null }, 2), false);
  assert.equal(ranBesideOtherWork({}, 2), false);
  assert.equal(ranBesideOtherWork({ load: 30 }, undefined), false);
});
