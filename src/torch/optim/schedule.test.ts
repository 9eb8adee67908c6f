import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cosineSchedule, polySchedule, withLinearWarmup } from './schedule.js';
import { ConfigError } from '../../errors.js';

// Expected values computed by hand from the formulas in the schedule's docs.
test('poly: baseLr * (1 - t/T)^0.9', () => {
  const lr = polySchedule({ baseLr: 0.1, totalSteps: 100 });
  assert.equal(lr(0), 0.1);
  assert.ok(Math.abs(lr(50) - 0.1 * Math.pow(0.5, 0.9)) < 1e-15);
  assert.ok(Math.abs(lr(50) - 0.05358867312681466) < 1e-12); // 0.5^0.9 = exp(0.9 ln 0.5) = 0.5358867...
  assert.equal(lr(100), 0);
  assert.equal(lr(150), 0);
});

test('cosine: from baseLr to minLr over totalSteps', () => {
  const lr = cosineSchedule({ baseLr: 1, totalSteps: 10, minLr: 0.1 });
  assert.equal(lr(0), 1);
  assert.ok(Math.abs(lr(5) - 0.55) < 1e-12); // half-way: (1 + 0.1) / 2
  assert.ok(Math.abs(lr(10) - 0.1) < 1e-12);
  assert.ok(Math.abs(lr(20) - 0.1) < 1e-12);
});

test('linear warm-up ramps to the wrapped schedule', () => {
  const lr = withLinearWarmup(() => 0.2, 4, 0.25);
  const expected = [0.05, 0.0875, 0.125, 0.1625, 0.2, 0.2]; // 0.2 * (0.25 + 0.75 * t / 4)
  [0, 1, 2, 3, 4, 5].forEach((t) => assert.ok(Math.abs(lr(t) - expected[t]) < 1e-15, `step ${t}: ${lr(t)}`));
});

test('schedules reject bad settings with ConfigError', () => {
  const cases: [() => unknown, RegExp][] = [
    [() => polySchedule({ baseLr: 0.1, totalSteps: 0 }), /schedule totalSteps must be a positive integer, got 0/],
    [() => polySchedule({ baseLr: 0.1, totalSteps: 10, power: Number.NaN }), /schedule power must be a finite number >= 0, got NaN/],
    [() => cosineSchedule({ baseLr: -1, totalSteps: 5 }), /schedule baseLr must be a finite number >= 0, got -1/],
    [() => cosineSchedule({ baseLr: 1, totalSteps: 5, minLr: Infinity }), /schedule minLr must be a finite number >= 0, got Infinity/],
    [() => withLinearWarmup(() => 1, -1), /schedule warmupSteps must be a non-negative integer, got -1/],
    [() => withLinearWarmup(() => 1, 2, -0.5), /schedule startFactor must be a finite number >= 0, got -0.5/],
  ];
  for (const [make, pattern] of cases) assert.throws(make, (error: unknown) => error instanceof ConfigError && pattern.test(error.message), String(pattern));
});
