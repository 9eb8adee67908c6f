/**
 * metrics.jsonl after a kill before the first checkpoint of a stage: `--resume` redoes those steps from
 * the stage's start, so the steps they logged must go, or the log holds them twice (it did).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureImage, temporaryFolder, writeCamVidFixture } from '../data/fixtures.js';
import { InterruptedError } from '../errors.js';
import { CHECKPOINT_DIR } from './checkpoint-store.js';
import { parseRunConfig, type RunConfig } from './config.js';
import { readMetrics } from './run-dir.js';
import { runTraining, type RunJob } from './run.js';

const folder = await temporaryFolder('contraseg-resume-log-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
await writeCamVidFixture(root, { train: [0, 1, 2].map((i) => fixtureImage(`t${i}`, 40, 30, [0, 3, 5, 8], i)) });

const config: RunConfig = parseRunConfig({
  seed: 2, batchSize: 2, logEvery: 1, checkpointEvery: 4, threads: 1,
  data: { kind: 'camvid', root, valSplit: null, testSplit: null, crop: { height: 32, width: 32 }, workers: 1 },
  model: { widthMultiplier: 0.0625 }, pretrain: { steps: 4, head: { width: 16 } }, finetune: { steps: 4 },
});

const steps = (runDir: string): string[] =>
  readMetrics(runDir).filter((record) => record.kind === 'step').map((record) => `${record.stage}:${record.step}:${String(record.loss)}`);

/** Runs until `stage` step `at`, stops there (a checkpoint of that step), then deletes the stage's checkpoints: as a kill before its first one. */
async function killedBeforeFirstCheckpoint(job: RunJob, stage: string, at: number): Promise<void> {
  const controller = new AbortController();
  await assert.rejects(runTraining({ ...job, signal: controller.signal,
    events: { onStep: (record) => { if (record.stage === stage && record.step === at) controller.abort('test'); } } }), InterruptedError);
  const directory = join(job.runDir, CHECKPOINT_DIR);
  for (const file of [`${stage}.json`, ...['json', 'safetensors'].map((suffix) => `${stage}-${String(at).padStart(9, '0')}-1.${suffix}`)]) {
    rmSync(join(directory, file)); // throws if the save was not the stage's first: the premise of the test
  }
}

test('resumed after a kill before the first checkpoint of each stage, the log equals an uninterrupted run', async () => {
  const straight = join(folder.path, 'straight');
  await runTraining({ config, runDir: straight, resume: false, stages: 'both' });
  const job: RunJob = { config, runDir: join(folder.path, 'killed'), resume: false, stages: 'both' };
  await killedBeforeFirstCheckpoint(job, 'pretrain', 2);
  await killedBeforeFirstCheckpoint({ ...job, resume: true }, 'finetune', 3);
  await runTraining({ ...job, resume: true });
  assert.equal(steps(straight).length, 8);
  assert.deepEqual(steps(job.runDir), steps(straight));
});
