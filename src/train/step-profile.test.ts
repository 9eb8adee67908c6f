import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporaryFolder } from '../data/fixtures.js';
import { StepProfile, stepProfile, type PhaseTotals } from './step-profile.js';

test('phases get the main thread\'s CPU time: a busy phase has it, a sleeping one (a stall) nearly none', async () => {
  const folder = await temporaryFolder('contraseg-profile-');
  try {
    const file = join(folder.path, 'profile.jsonl');
    const profile = new StepProfile(file, 'finetune');
    for (let i = 0; i < 2; i++) {
      // the loop waiting for a batch: wall time, no CPU. A futex wait sleeps the thread at least 30 ms (a timer
      // could fire early against libuv's cached loop time after the 50 ms spin), so 60 ms of sleep is guaranteed.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30);
      profile.mark('wait');
      const until = performance.now() + 50;
      let spins = 0;
      while (performance.now() < until) spins++; // a step: CPU for as long as the scheduler lets it run
      assert.ok(spins > 0);
      profile.mark('step');
    }
    profile.finish(2);
    const line = JSON.parse(readFileSync(file, 'utf8').trim()) as { kind: string; stage: string; steps: number; stalls: number; phases: Record<string, PhaseTotals> };
    assert.equal(line.kind, 'step-profile');
    assert.equal(line.stage, 'finetune');
    assert.equal(line.stalls, 2);
    const { wait, step } = line.phases as { wait: PhaseTotals; step: PhaseTotals };
    assert.equal(wait.count, 2);
    assert.equal(step.count, 2);
    assert.ok(wait.wallMs >= 60 && step.wallMs >= 100, JSON.stringify(line.phases));
    // CPU time never exceeds wall time on one thread (0.1 ms slack for the two clocks' reads)
    assert.ok(wait.cpuMs !== null && step.cpuMs !== null && wait.runqueueMs !== null && step.runqueueMs !== null, 'procfs schedstat unreadable');
    // a sleep is neither CPU nor runqueue time: at least 60 ms of waiting is sleep (a stall each time); 10 ms slack
    // for the clocks' granularity (schedstat is ns, the wall clock sub-ms)
    assert.ok(wait.wallMs - wait.cpuMs - wait.runqueueMs > 50, JSON.stringify(line.phases));
    assert.ok(step.cpuMs <= step.wallMs + 0.1 && wait.cpuMs <= wait.wallMs + 0.1, JSON.stringify(line.phases));
    assert.ok(step.cpuMs > 4 * wait.cpuMs, JSON.stringify(line.phases));
  } finally {
    await folder.remove();
  }
});

test('without CONTRASEG_STEP_PROFILE there is no profile', () => {
  const saved = process.env.CONTRASEG_STEP_PROFILE;
  delete process.env.CONTRASEG_STEP_PROFILE;
  try {
    assert.equal(stepProfile('pretrain'), undefined);
  } finally {
    if (saved !== undefined) process.env.CONTRASEG_STEP_PROFILE = saved;
  }
});
