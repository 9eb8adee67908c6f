import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { temporaryFolder, writeTinyCamVid } from '../data/fixtures.js';
import { InterruptedError } from '../errors.js';
import { liveTensorCount } from '../torch/scope.js';
import { parseRunConfig, type RunConfig, type RunConfigInput } from './config.js';
import { readMetrics } from './run-dir.js';
import { runTraining, type RunJob } from './run.js';

const folder = await temporaryFolder('contraseg-run-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
await writeTinyCamVid(root, { val: 2 });

/** Three labelled images, batch 4 (K < batch), a width-1/16 ResNet-18: every step takes milliseconds. */
function config(overrides: Record<string, unknown> = {}): RunConfig {
  const base: RunConfigInput = {
    seed: 5, batchSize: 4, logEvery: 1, checkpointEvery: 2,
    data: { kind: 'camvid', root, labelled: { count: 3 }, crop: { height: 32, width: 32 }, workers: 1 },
    model: { widthMultiplier: 0.0625 },
    pretrain: { steps: 5, optimizer: { kind: 'sgd', lr: 0.05 }, warmupSteps: 2 },
    finetune: { steps: 5, optimizer: { kind: 'sgd', lr: 0.02 } },
    eval: { every: 2 },
  };
  return parseRunConfig({ ...base, ...overrides });
}

function losses(runDir: string): string[] {
  return readMetrics(runDir).filter((record) => record.kind === 'step').map((record) => `${record.stage}:${record.step}:${String(record.loss)}`);
}

/** Runs a job that aborts itself after `stage` step `at`, and checks it stopped with InterruptedError. */
async function interruptedRun(job: RunJob, stage: string, at: number): Promise<void> {
  const controller = new AbortController();
  await assert.rejects(runTraining({
    ...job, signal: controller.signal,
    events: { onStep: (record) => { if (record.stage === stage && record.step === at) controller.abort('test'); } },
  }), InterruptedError);
}

test('a run interrupted in each stage and resumed twice logs the very same losses as an uninterrupted run, bit for bit', async () => {
  const before = liveTensorCount();
  const straight = join(folder.path, 'straight');
  const full = await runTraining({ config: config(), runDir: straight, resume: false, stages: 'both' });
  const broken = join(folder.path, 'broken');
  const job: RunJob = { config: config(), runDir: broken, resume: false, stages: 'both' };
  await interruptedRun(job, 'pretrain', 3); // between the checkpoints of steps 2 and 4: saved at 3 on the way out
  await interruptedRun({ ...job, resume: true }, 'finetune', 1);
  const resumed = await runTraining({ ...job, resume: true });
  assert.equal(losses(straight).length, 10);
  assert.deepEqual(losses(broken), losses(straight));
  assert.deepEqual(resumed.test?.confusion, full.test?.confusion);
  assert.equal(resumed.test?.images, 2);
  assert.ok(full.test !== null && Number.isFinite(full.test.metrics.meanIoU));
  // Stage 1 logs each batch's loss floor (contrastiveLossFloor, tested by hand in src/losses): positive, never above the loss.
  const stage1 = readMetrics(straight).filter((record) => record.kind === 'step' && record.stage === 'pretrain');
  for (const record of stage1) assert.ok((record.lossFloor as number) > 0 && (record.lossFloor as number) <= (record.loss as number), JSON.stringify(record));
  // Every logged step records the machine's 1-minute load average (what the sweep report flags shared cores with).
  for (const record of readMetrics(straight).filter((r) => r.kind === 'step')) assert.ok(typeof record.load === 'number' && record.load >= 0, JSON.stringify(record));
  assert.equal(liveTensorCount(), before);
});

test('the ce method is one fine-tuning stage of pretrain + finetune steps from scratch; K < batch fills batches', async () => {
  const runDir = join(folder.path, 'ce');
  const result = await runTraining({ config: config({ method: 'ce' }), runDir, resume: false, stages: 'both' });
  const records = readMetrics(runDir);
  assert.equal(records.filter((record) => record.stage === 'pretrain').length, 0);
  assert.equal(records.filter((record) => record.kind === 'step').length, 10);
  assert.deepEqual(records.filter((record) => record.kind === 'eval' && record.split === 'val').map((record) => record.step), [2, 4, 6, 8, 10]);
  assert.equal(result.labelled, 3);
  assert.ok(result.bestValMiou !== null);
});
