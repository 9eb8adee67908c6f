import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CliIO } from './args.js';
import { etaSeconds, progressEvents } from './progress.js';

test('ETA: time per step so far times the steps left', () => {
  // 10 of 100 steps in 5 s: 0.5 s per step, 90 steps left.
  assert.equal(etaSeconds({ step: 10, steps: 100, seconds: 5 }, 0), 45);
  assert.equal(etaSeconds({ step: 0, steps: 100, seconds: 0 }, 0), 0);
});

test('ETA after a resume counts only the steps run since the resume', () => {
  // Resumed at step 95; 35 steps run in 8.75 s (0.25 s per step); 270 steps left -> 67.5 s.
  // Dividing by the absolute step (130) instead would claim 18 s.
  assert.equal(etaSeconds({ step: 130, steps: 400, seconds: 8.75 }, 95), 67.5);
});

test('plain progress lines show the resumed stage ETA', () => {
  const lines: string[] = [];
  const io: CliIO = { stdout: () => {}, stderr: (text: string) => { lines.push(text); } };
  const events = progressEvents(io, 'ce', { tty: false, every: 10 });
  events.onStageStart?.('finetune', 400, 95);
  events.onStep?.({ stage: 'finetune', step: 130, steps: 400, lr: 0.01, loss: 1, imagesPerSecond: 32, seconds: 8.75 } as never);
  assert.match(lines[0] ?? '', /resumed at step 95/);
  assert.match(lines[1] ?? '', /ETA 68 s/);
});
