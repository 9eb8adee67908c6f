/**
 * A checkpoint write that the disk refuses: full (ENOSPC), permission denied (EACCES), read-only (EROFS).
 * The save throws a CheckpointError naming the file and the system's reason, the previous checkpoint stays
 * the latest and loads, no temp file is left; a training run stops with exit code 4 and, once the disk is
 * fixed, `--resume` ends with the very weights of an uninterrupted run.
 *
 * In process, through the injectable file-system layer (always). Then real disks where the machine allows
 * it: a tiny tmpfs filled up and a read-only bind mount of checkpoints/ (both need `mount`, i.e. root), and
 * a root-owned, mode 555 checkpoints/ written by a training run as user nobody (root itself bypasses
 * permissions); otherwise those tests are skipped and say why.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporaryFolder, writeTinyCamVid } from '../data/fixtures.js';
import { CheckpointError } from '../errors.js';
import { Conv2d } from '../nn/layers.js';
import { manualSeed } from '../torch/creation.js';
import { SGD } from '../torch/optim/sgd.js';
import { nodeFs, type CheckpointFs } from './checkpoint-io.js';
import { readCheckpoint, saveCheckpoint, type CheckpointContent } from './checkpoint.js';
import { CHECKPOINT_DIR } from './checkpoint-store.js';
import { checkpointBytes, spawnCli, tinyTrainFlags } from './crash-harness.js';

const folder = await temporaryFolder('contraseg-disk-');
after(() => folder.remove());

const REASONS = {
  ENOSPC: 'ENOSPC: no space left on device, write',
  EACCES: 'EACCES: permission denied, open',
  EROFS: 'EROFS: read-only file system, open',
} as const;
type Reason = keyof typeof REASONS;

/** node:fs, except that the temp file of `target` fails as a full disk does (at write) or a refused one does (at open). */
function refusingFs(target: string, reason: Reason): CheckpointFs {
  const fail = (): never => { throw Object.assign(new Error(REASONS[reason]), { code: reason }); };
  const targetFds = new Set<number>();
  const isTarget = (path: string): boolean => path.includes(`.${target}.tmp-`);
  return {
    ...nodeFs,
    openSync: (path, flags) => {
      if (isTarget(path) && reason !== 'ENOSPC') fail();
      const fd = nodeFs.openSync(path, flags);
      if (isTarget(path)) targetFds.add(fd);
      return fd;
    },
    writeSync: (fd, data) => (targetFds.has(fd) ? fail() : nodeFs.writeSync(fd, data)),
  };
}

describe('a refused checkpoint write (injected through the file-system layer)', () => {
  manualSeed(5);
  const model = new Conv2d(3, 4, { kernelSize: 3 });
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  after(() => { optimizer.dispose(); model.dispose(); });
  const content = (step: number): CheckpointContent => ({ model, optimizer, step, stage: 'pretrain', loaderPosition: { epoch: 0, batch: step },
    config: {}, splitIds: [], metrics: { step } });
  // The three files of save 2 (step 2): tensors, the JSON naming them, the pointer (the commit).
  for (const target of ['last-000000002-2.safetensors', 'last-000000002-2.json', 'last.json']) {
    for (const reason of ['ENOSPC', 'EACCES', 'EROFS'] as const) {
      it(`${reason} on ${target}: CheckpointError naming it and the reason; step 1 stays latest and loads; no temp file`, () => {
        const runDir = join(folder.path, `injected-${reason}-${target}`);
        saveCheckpoint(runDir, 'last', content(1));
        const directory = join(runDir, CHECKPOINT_DIR);
        assert.throws(() => saveCheckpoint(runDir, 'last', content(2), { fs: refusingFs(target, reason) }), (error: unknown) => {
          assert.ok(error instanceof CheckpointError);
          assert.equal(error.file, join(directory, target));
          assert.equal(error.message, `${join(directory, target)}: cannot write (${REASONS[reason]}); the previous checkpoint, if any, is unchanged`);
          return true;
        });
        const latest = readCheckpoint(runDir);
        latest.dispose();
        assert.equal(latest.meta.step, 1);
        assert.deepEqual(latest.problems, []);
        assert.deepEqual(readdirSync(directory).filter((file) => file.includes('.tmp-')), []);
        saveCheckpoint(runDir, 'last', content(3)); // the disk is back: the next save works and prunes the leftovers
        assert.deepEqual(readdirSync(directory).map((file) => file.replace(/-\d+\.(json|safetensors)$/, '.$1')).sort(),
          ['last-000000003.json', 'last-000000003.safetensors', 'last.json']);
      });
    }
  }
});

const STEPS = { pretrain: 6, finetune: 4, checkpointEvery: 2 };
const root = join(folder.path, 'camvid');
const reference = join(folder.path, 'reference');
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

/** Whether this process may mount a tmpfs (root in a namespace that allows it). */
function canMount(): boolean {
  if (!isRoot) return false;
  const probe = join(folder.path, 'mount-probe');
  mkdirSync(probe);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Starts a run and SIGINTs it at pretraining step 3: it saves that step and exits 130. Returns the step saved. */
async function interruptedRun(runDir: string, uid?: number): Promise<number> {
  const ended = await spawnCli(tinyTrainFlags(root, runDir, STEPS), {}, (step, child) => {
    if (step.stage === 'pretrain' && step.step === 3) child.kill('SIGINT');
  }, uid).outcome;
  assert.equal(ended.code, 130, ended.stderr);
  const checkpoint = readCheckpoint(runDir, { name: 'pretrain' });
  checkpoint.dispose();
  return checkpoint.meta.step;
}

/** `train --resume` on a refusing disk: exit 4 naming the next checkpoint file and the reason; the saved one still loads. */
async function assertRefusedResume(runDir: string, saved: number, reason: RegExp, uid?: number): Promise<void> {
  const ended = await spawnCli(['train', '--resume', runDir], {}, undefined, uid).outcome;
  assert.equal(ended.code, 4, ended.stderr);
  const next = STEPS.checkpointEvery * Math.ceil((saved + 1) / STEPS.checkpointEvery); // the first periodic save after the resume
  const file = join(runDir, CHECKPOINT_DIR, `pretrain-${String(next).padStart(9, '0')}-`);
  const line = ended.stderr.split('\n').find((text) => text.startsWith(`contraseg: ${file}`)) ?? '';
  assert.match(line, /^contraseg: \S+-\d+\.safetensors: cannot write \(/, ended.stderr);
  assert.match(line, reason);
  const checkpoint = readCheckpoint(runDir, { name: 'pretrain' });
  checkpoint.dispose();
  assert.equal(checkpoint.meta.step, saved, 'the previous checkpoint is still the latest');
  assert.deepEqual(checkpoint.problems, []);
  assert.deepEqual(readdirSync(join(runDir, CHECKPOINT_DIR)).filter((name) => name.includes('.tmp-')), [], 'no temp file left');
}

/** After the disk is fixed, `train --resume` finishes with the uninterrupted run's weights, bit for bit. */
async function assertResumesToReference(runDir: string): Promise<void> {
  const ended = await spawnCli(['train', '--resume', runDir]).outcome;
  assert.equal(ended.code, 0, ended.stderr);
  for (const series of ['pretrain', 'finetune']) {
    const expected = checkpointBytes(reference, series);
    const got = checkpointBytes(runDir, series);
    for (const [key, bytes] of expected) assert.ok(bytes.equals(got.get(key) as Buffer), `${series} ${key}`);
  }
}

describe('a training run whose checkpoint write the real disk refuses', () => {
  const mountable = canMount();
  before(async () => {
    await writeTinyCamVid(root);
    chmodSync(folder.path, 0o755); // user nobody must reach the dataset and the code's run dir
    const straight = await spawnCli(tinyTrainFlags(root, reference, STEPS)).outcome;
    assert.equal(straight.code, 0, straight.stderr);
  });

  it('a full disk (a tmpfs filled up): exit 4 naming the file and ENOSPC, the last checkpoint intact, resumable',
    { skip: mountable ? false : 'cannot mount a tmpfs here (needs root and mount rights); the injected ENOSPC above still runs' }, async () => {
      const disk = join(folder.path, 'disk');
      mkdirSync(disk);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', disk]);
      try {
        const runDir = join(disk, 'run');
        const saved = await interruptedRun(runDir);
        const stats = statfsSync(disk);
        // Leave 64 KiB: room for config.json, split.txt and the metrics lines, not for a ~0.5 MB tensors file.
        writeFileSync(join(disk, 'filler'), Buffer.alloc(stats.bavail * stats.bsize - 64 * 1024));
        await assertRefusedResume(runDir, saved, /ENOSPC: no space left on device/);
        rmSync(join(disk, 'filler'));
        await assertResumesToReference(runDir);
      } finally {
        execFileSync('umount', ['-l', disk]);
      }
    });

  it('a read-only checkpoints/ (a read-only bind mount): exit 4 naming the file and EROFS, the last checkpoint intact, resumable',
    { skip: mountable ? false : 'cannot mount here (needs root and mount rights); the injected EROFS above still runs' }, async () => {
      const runDir = join(folder.path, 'read-only');
      const saved = await interruptedRun(runDir);
      const checkpoints = join(runDir, CHECKPOINT_DIR);
      execFileSync('mount', ['--bind', checkpoints, checkpoints]);
      try {
        execFileSync('mount', ['-o', 'remount,bind,ro', checkpoints]);
        await assertRefusedResume(runDir, saved, /EROFS: read-only file system/);
      } finally {
        execFileSync('umount', ['-l', checkpoints]);
      }
      await assertResumesToReference(runDir);
    });

  it('a checkpoints/ directory the user may not write (run as nobody): exit 4 naming the file and EACCES, resumable',
    { skip: isRoot ? false : 'needs root to run the training as another user (root bypasses permissions); the injected EACCES above still runs' }, async () => {
      const runDir = join(folder.path, 'denied');
      const saved = await interruptedRun(runDir);
      const chownTree = (path: string, uid: number): void => { execFileSync('chown', ['-R', `${uid}:${uid}`, path]); };
      chownTree(runDir, NOBODY);
      chownSync(join(runDir, CHECKPOINT_DIR), 0, 0);
      chmodSync(join(runDir, CHECKPOINT_DIR), 0o555);
      await assertRefusedResume(runDir, saved, /EACCES: permission denied/, NOBODY);
      chmodSync(join(runDir, CHECKPOINT_DIR), 0o755);
      chownTree(runDir, 0);
      await assertResumesToReference(runDir);
    });
});
