/**
 * Crash safety of a real `contraseg train` process: SIGKILLed at seeded random moments (after a random
 * number of steps, or while a checkpoint is being written, made slow on purpose with the test-only
 * CONTRASEG_TEST_SLOW_CHECKPOINT_MS), resumed each time with --resume, it must always find its last
 * completed checkpoint intact, lose no more than its bound, and end with the very weights of an
 * uninterrupted run. The bound depends on checkpointWrites: 'sync' (the default) loses at most one
 * checkpoint interval (the last step logged is at most the next save point after the latest durable
 * checkpoint); 'background' (checkpoint-writer.ts) one interval plus the steps run while the last write was
 * in flight (up to the second save point, or the end of the stage if that comes first). Both modes are
 * killed 22 times. SIGINT and SIGTERM finish the step, save, exit 130 / 143, and resume exactly.
 */
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { temporaryFolder, writeTinyCamVid } from '../data/fixtures.js';
import { findLatestCheckpoint, readCheckpoint } from './checkpoint.js';
import { SLOW_CHECKPOINT_ENV } from './checkpoint-io.js';
import type { CheckpointWrites } from './config.js';
import { CHECKPOINT_DIR } from './checkpoint-store.js';
import { readMetrics } from './run-dir.js';
import {
  checkpointBytes, seededRandom, spawnCli, tinyTrainFlags, unreferencedCheckpointFiles, type ChildOutcome,
} from './crash-harness.js';

const STEPS = { pretrain: 16, finetune: 16, checkpointEvery: 3 };
const KILLS = 22;
/** Seed of the kill schedule; set CONTRASEG_SIGKILL_SEED to replay another one. */
const SEED = Number(process.env.CONTRASEG_SIGKILL_SEED ?? 20211012);
/** Pause before each of a save's three renames: a save then takes > 3 x this, a wide target for a kill. */
const PAUSE_MS = 60;

const folder = await temporaryFolder('contraseg-sigkill-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
const reference = join(folder.path, 'reference');

/** stage:step:loss of every logged step (the run logs every step). */
function losses(runDir: string): string[] {
  return readMetrics(runDir).filter((record) => record.kind === 'step').map((record) => `${record.stage}:${record.step}:${String(record.loss)}`);
}

/** A step of either stage on one axis: pretraining steps 1..P, then fine-tuning steps P+1..P+F. */
function globalStep(stage: string, step: number): number {
  return stage === 'finetune' ? STEPS.pretrain + step : step;
}

/** The global steps after which the run saves a checkpoint: every checkpointEvery steps of a stage and at its end. */
function savePoints(): { step: number; stageEnd: boolean }[] {
  const points: { step: number; stageEnd: boolean }[] = [];
  for (const [offset, steps] of [[0, STEPS.pretrain], [STEPS.pretrain, STEPS.finetune]] as const) {
    for (let step = STEPS.checkpointEvery; step < steps; step += STEPS.checkpointEvery) points.push({ step: offset + step, stageEnd: false });
    points.push({ step: offset + steps, stageEnd: true });
  }
  return points;
}

/**
 * The furthest step a run can have logged while its latest durable checkpoint is `latest`. Sync writes: the
 * next save point s1 (the save there is durable before step s1 + 1 starts). Background writes: the save at
 * s1 may still be in flight (the loop trains on), but the save at the point after it, s2, waits for s1's
 * write, and a stage's end waits for its own; so the run logged at most s2, or s1 if s1 ends a stage.
 */
function furthestReachable(latest: number, writes: CheckpointWrites): number {
  const points = savePoints();
  const next = points.findIndex((point) => point.step > latest);
  const first = points[next];
  if (first === undefined) return latest; // the run is complete
  return writes === 'sync' || first.stageEnd ? first.step : (points[next + 1] as { step: number }).step;
}

/** The latest complete checkpoint of the run (finetune, else pretrain) on the global axis; 0 for none. */
function latestCheckpointStep(runDir: string, where: string): number {
  for (const stage of ['finetune', 'pretrain'] as const) {
    if (findLatestCheckpoint(runDir, { name: stage }) === undefined) continue;
    const checkpoint = readCheckpoint(runDir, { name: stage });
    checkpoint.dispose();
    assert.deepEqual(checkpoint.problems, [], `${where}: the latest ${stage} checkpoint is the pointer's, not a fallback`);
    assert.equal(checkpoint.meta.stage, stage, where);
    return globalStep(stage, checkpoint.meta.step);
  }
  return 0;
}

/**
 * Where a child started, on the global axis (undefined when it died before starting a stage): in stage 1
 * unless that was complete (its start line is printed either way), else where stage 2 resumed.
 */
function startOf(outcome: ChildOutcome): number | undefined {
  const pretrain = outcome.starts.get('pretrain');
  if (pretrain !== undefined && pretrain < STEPS.pretrain) return pretrain;
  const finetune = outcome.starts.get('finetune');
  return finetune === undefined ? undefined : globalStep('finetune', finetune);
}

function assertSameFinalState(runDir: string): void {
  assert.deepEqual(losses(runDir), losses(reference), 'every logged loss, bit for bit');
  for (const series of ['pretrain', 'finetune', 'best']) {
    const expected = checkpointBytes(reference, series);
    const got = checkpointBytes(runDir, series);
    assert.deepEqual([...got.keys()], [...expected.keys()], series);
    for (const [key, bytes] of expected) assert.ok(bytes.equals(got.get(key) as Buffer), `${series} ${key} differs from the uninterrupted run`);
  }
}

before(async () => {
  await writeTinyCamVid(root);
  const straight = await spawnCli(tinyTrainFlags(root, reference, STEPS)).outcome;
  assert.equal(straight.code, 0, straight.stderr);
  assert.equal(losses(reference).length, STEPS.pretrain + STEPS.finetune);
});

describe('contraseg train under SIGKILL', () => {
  for (const writes of ['sync', 'background'] as const) {
    it(`checkpointWrites ${writes}: survives ${KILLS} seeded random kills, some mid-checkpoint, loses at most ${writes === 'sync' ? 'one interval' : 'one interval plus the write in flight'}, and ends with the uninterrupted weights bit for bit`,
      () => killRepeatedly(writes));
  }
});

async function killRepeatedly(writes: CheckpointWrites): Promise<void> {
  const random = seededRandom(SEED);
  const runDir = join(folder.path, `killed-${writes}`);
  const log: string[] = [];
  let kills = 0;
  let midSave = 0;
  let beyondOneInterval = 0;
  let resumeAt = 0;
  for (let round = 0; kills < KILLS; round += 1) {
    // Kill targets spread over both stages: round r aims at a random step of the r-th of KILLS equal slices.
    const target = 1 + Math.floor(((round + random()) * (STEPS.pretrain + STEPS.finetune - 2)) / KILLS);
    const duringSave = random() < 0.5;
    const delayMs = Math.floor(random() * (duringSave ? 3 * PAUSE_MS : 40));
    const plan = duringSave ? `killed ${delayMs} ms into its first save from step ${target}` : `killed ${delayMs} ms after step ${target}`;
    const argv = round === 0 ? [...tinyTrainFlags(root, runDir, STEPS), '--checkpoint-writes', writes] : ['train', '--resume', runDir];
    let reachedTarget = false;
    let armed = false;
    const before = new Set(unreferencedCheckpointFiles(runDir));
    const { child, outcome } = spawnCli(argv, { [SLOW_CHECKPOINT_ENV]: String(PAUSE_MS) }, (step, process) => {
      if (reachedTarget || globalStep(step.stage, step.step) < Math.max(target, resumeAt + 1)) return;
      reachedTarget = true;
      if (!duringSave) setTimeout(() => process.kill('SIGKILL'), delayMs);
    });
    // A save in progress shows as this child's temp file (.<name>.tmp-<pid>-<n>) in checkpoints/.
    const watch = setInterval(() => {
      if (!duringSave || armed || !reachedTarget) return;
      let files: string[] = [];
      try { files = readdirSync(join(runDir, CHECKPOINT_DIR)); } catch { /* not created yet */ }
      if (!files.some((file) => file.includes(`.tmp-${child.pid}-`))) return;
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), delayMs);
    }, 2);
    const ended = await outcome.finally(() => clearInterval(watch));
    const where = `seed ${SEED} round ${round} (${plan})`;
    if (ended.signal !== 'SIGKILL') {
      assert.equal(ended.code, 0, `${where}: ${ended.stderr}`);
      log.push(`${where}: finished before the kill`);
      break;
    }
    kills += 1;
    const started = startOf(ended);
    if (started !== undefined) assert.equal(started, resumeAt, `${where}: resumed from the last completed checkpoint`);
    const reached = Math.max(resumeAt, ...ended.steps.map((s) => globalStep(s.stage, s.step)));
    const debris = unreferencedCheckpointFiles(runDir).filter((file) => !before.has(file)); // left by this kill
    if (debris.length > 0) midSave += 1;
    const latest = latestCheckpointStep(runDir, where);
    assert.ok(latest >= resumeAt && latest <= reached, `${where}: latest checkpoint ${latest}, resumed at ${resumeAt}, reached ${reached}`);
    const bound = furthestReachable(latest, writes);
    assert.ok(reached <= bound, `${where}: reached step ${reached} but the latest checkpoint is ${latest}: more lost than ` +
      `${writes === 'sync' ? 'one interval' : 'one interval plus the write in flight'} (bound ${bound})`);
    if (reached - latest > STEPS.checkpointEvery) beyondOneInterval += 1;
    log.push(`${where}: resumed at ${started ?? '-'}, reached ${reached}, latest checkpoint ${latest}${debris.length > 0 ? `, mid-save (${debris.join(' ')})` : ''}`);
    resumeAt = latest;
  }
  assert.ok(kills >= 20, `only ${kills} kills before the run finished:\n${log.join('\n')}`);
  assert.ok(resumeAt > STEPS.pretrain, `every kill was in pretraining:\n${log.join('\n')}`);
  assert.ok(midSave >= 3, `only ${midSave} kills landed inside a save:\n${log.join('\n')}`);
  const finish = await spawnCli(['train', '--resume', runDir]).outcome;
  assert.equal(finish.code, 0, finish.stderr);
  assertSameFinalState(runDir);
  process.stdout.write(`# sigkill (checkpointWrites ${writes}): ${kills} kills (${midSave} inside a save, ${beyondOneInterval} losing more than one interval), ` +
    `seed ${SEED}\n# ${log.join('\n# ')}\n`);
}

describe('contraseg train under SIGINT and SIGTERM', () => {
  it('finishes the step, writes a checkpoint of it, exits 130 / 143, and resumes to the uninterrupted weights', async () => {
    const runDir = join(folder.path, 'signalled');
    const stops: number[] = [];
    for (const [signal, stage, at, code] of [['SIGINT', 'pretrain', 4, 130], ['SIGTERM', 'finetune', 7, 143]] as const) {
      const argv = signal === 'SIGINT' ? tinyTrainFlags(root, runDir, STEPS) : ['train', '--resume', runDir];
      const ended = await spawnCli(argv, {}, (step, child) => {
        if (step.stage === stage && step.step === at) child.kill(signal);
      }).outcome;
      assert.equal(ended.code, code, ended.stderr);
      // The handler's line separates the steps before the signal was handled from those after: there must be none after.
      const lines = ended.stderr.split('\n');
      const handled = lines.findIndex((line) => line.startsWith(`contraseg: ${signal}: finishing the current step`));
      assert.ok(handled > 0, ended.stderr);
      const stepOf = (line: string): number | undefined => {
        const match = new RegExp(`\\] ${stage} (\\d+)/`).exec(line);
        return match === null ? undefined : Number(match[1]);
      };
      const finished = lines.slice(0, handled).map(stepOf).filter((step) => step !== undefined).at(-1);
      assert.deepEqual(lines.slice(handled).map(stepOf).filter((step) => step !== undefined), [], 'no step after the signal was handled');
      assert.ok(finished !== undefined && finished >= at, `stopped after ${stage} step ${finished}`);
      const checkpoint = readCheckpoint(runDir, { name: stage });
      checkpoint.dispose();
      assert.equal(checkpoint.meta.step, finished, `${signal}: the checkpoint holds the step it finished`);
      assert.match(ended.stderr, new RegExp(`${stage} stopped after step ${finished} of 16; its checkpoint is saved`));
      stops.push(finished);
    }
    // When a stop fell between periodic checkpoints, only the signal can have written its checkpoint.
    process.stdout.write(`# signals: stopped after pretrain step ${stops[0]} (SIGINT) and finetune step ${stops[1]} (SIGTERM)\n`);
    const finish = await spawnCli(['train', '--resume', runDir]).outcome;
    assert.equal(finish.code, 0, finish.stderr);
    assertSameFinalState(runDir);
  });
});
