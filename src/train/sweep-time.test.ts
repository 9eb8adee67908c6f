// A cell's time from its log, by hand: pauses and a resume inside the log must not change it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MetricsRecord } from './run-dir.js';
import { cellSeconds, medianLoad } from './sweep-time.js';

const step = (stage: string, stepNo: number, seconds: number): MetricsRecord => ({ kind: 'step', stage, step: stepNo, seconds });
const evaluation = (split: string, seconds: number): MetricsRecord => ({ kind: 'eval', stage: 'finetune', step: 0, split, seconds });

test('cellSeconds: steps x median step time + evaluations x median per-image time; a pause and a resume do not count', () => {
  const metrics: MetricsRecord[] = [
    // pretrain, 40 steps logged every 10: 1.5 s/step, except one interval with a 1000 s SIGSTOP pause
    step('pretrain', 10, 15), step('pretrain', 20, 30), step('pretrain', 30, 1045), step('pretrain', 40, 1060),
    // finetune, 40 steps: 0.5 s/step; killed after 20 and resumed from its checkpoint at step 10 (clock restarts)
    step('finetune', 10, 5), step('finetune', 20, 10), step('finetune', 20, 5), step('finetune', 30, 10), step('finetune', 40, 15),
    // val (100 images) twice at 0.02 s/image, one of them paused to 50 s; test (200 images) at 0.02 s/image
    evaluation('val', 2), evaluation('val', 50), evaluation('val', 2), evaluation('test', 4),
  ];
  const seconds = cellSeconds(metrics, { pretrain: 40, finetune: 40 }, { val: 100, test: 200 });
  // pretrain rates 1.5, 101.5, 1.5 -> median 1.5 -> 60 s; finetune rates 0.5 x 3 (the 20 -> 20 pair is skipped) -> 20 s
  // evaluations: per image 0.02, 0.5, 0.02, 0.02 -> median 0.02 x (3 x 100 + 200) images = 10 s
  assert.equal(seconds.pretrain, 60);
  assert.ok(Math.abs(seconds.finetune - 30) < 1e-9, String(seconds.finetune));
  assert.ok(Math.abs(seconds.total - 90) < 1e-9, String(seconds.total));
  const ce = cellSeconds(metrics.filter((record) => record.stage === 'finetune'), { pretrain: 0, finetune: 40 }, { val: 100, test: 200 });
  assert.equal(ce.pretrain, 0);
});

test('medianLoad: the median of the logged steps\' load averages; evaluations and steps without one do not count; null for none', () => {
  const loaded = (stepNo: number, load: number): MetricsRecord => ({ ...step('finetune', stepNo, stepNo), load });
  const metrics: MetricsRecord[] = [loaded(10, 2.1), loaded(20, 4.0), step('finetune', 30, 30), loaded(40, 2.3), { ...evaluation('val', 2), load: 9 }];
  assert.equal(medianLoad(metrics), 2.3); // of 2.1, 4.0, 2.3
  assert.equal(medianLoad([...metrics, loaded(50, 3.0)]), (2.3 + 3.0) / 2);
  assert.equal(medianLoad([step('finetune', 10, 5)]), null);
});
