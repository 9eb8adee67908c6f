/**
 * Crash safety: a save killed at any moment leaves the last completed checkpoint as the latest, intact,
 * and the next save cleans up after it. Two ways: a kill injected before every single file-system
 * operation of a save (deterministic, exhaustive), and real SIGKILLs of a child process that saves in a loop.
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { manualSeed, randn } from '../torch/creation.js';
import { SGD } from '../torch/optim/sgd.js';
import { liveTensorCount, noGrad, scope } from '../torch/scope.js';
import { Conv2d } from '../nn/layers.js';
import { nodeFs, type CheckpointFs } from './checkpoint-io.js';
import { readCheckpoint, resumeFromCheckpoint, saveCheckpoint, type CheckpointContent } from './checkpoint.js';

const temp = mkdtempSync(join(tmpdir(), 'contraseg-checkpoint-crash-'));
after(() => rmSync(temp, { recursive: true, force: true }));

/** Thrown by the crashing file system: the process "died" here. */
class Killed extends Error {}

/**
 * node:fs that dies before operation number `killAt` (counting opens, writes, fsyncs, closes, renames and
 * deletions): a write in progress then writes half its bytes, and every later call fails, so no cleanup
 * runs, as after a SIGKILL. `ops` lists the operations done.
 */
function killedFs(killAt: number): { fs: CheckpointFs; ops: string[] } {
  const ops: string[] = [];
  let dead = false;
  const alive = (): void => {
    if (dead) throw new Killed('the process is dead');
  };
  const operation = <T>(label: string, run: () => T, tornWrite?: () => void): T => {
    alive();
    if (ops.length === killAt) {
      tornWrite?.();
      dead = true;
      throw new Killed(`killed before ${label}`);
    }
    ops.push(label);
    return run();
  };
  const names = new Map<number, string>();
  const fs: CheckpointFs = {
    openSync: (path, flags) => operation(`open ${basename(path)}`, () => {
      const fd = nodeFs.openSync(path, flags);
      names.set(fd, basename(path));
      return fd;
    }),
    writeSync: (fd, data) => operation(`write ${names.get(fd)}`, () => nodeFs.writeSync(fd, data),
      () => nodeFs.writeSync(fd, data.subarray(0, data.byteLength >> 1))),
    fsyncSync: (fd) => operation(`fsync ${names.get(fd)}`, () => nodeFs.fsyncSync(fd)),
    // A killed process's descriptors are closed by the kernel: close for real, but count it.
    closeSync: (fd) => {
      if (dead) return nodeFs.closeSync(fd);
      operation(`close ${names.get(fd)}`, () => undefined);
      nodeFs.closeSync(fd);
    },
    renameSync: (from, to) => operation(`rename ${basename(from)} -> ${basename(to)}`, () => nodeFs.renameSync(from, to)),
    rmSync: (path, options) => operation(`rm ${basename(path)}`, () => nodeFs.rmSync(path, options)),
    readFileSync: (path) => { alive(); return nodeFs.readFileSync(path); },
    readdirSync: (path) => { alive(); return nodeFs.readdirSync(path); },
    mkdirSync: (path, options) => { alive(); return nodeFs.mkdirSync(path, options); },
    statSync: (path) => { alive(); return nodeFs.statSync(path); },
  };
  return { fs, ops };
}

describe('a save killed before any file-system operation', () => {
  let model: Conv2d;
  let optimizer: SGD;
  before(() => {
    manualSeed(7);
    model = new Conv2d(4, 8, { kernelSize: 3 });
    optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    scope(() => {
      model.forward(randn([1, 4, 6, 6])).pow(2).mean().backward();
      noGrad(() => optimizer.step()); // momentum buffers exist from here on
    });
  });
  after(() => {
    optimizer.dispose();
    model.dispose();
  });
  const content = (step: number, save: number): CheckpointContent => ({ model, optimizer, step, stage: 'pretrain',
    loaderPosition: { epoch: 0, batch: step }, config: { step }, splitIds: ['a'], metrics: { save } });

  // The second scenario is a run resumed from an earlier checkpoint saving a step it had saved before.
  for (const [title, secondStep] of [['the next step', 2], ['the same step again', 1]] as const) {
    it(`saving ${title}: the previous save stays latest until the pointer is renamed; the next save removes the debris`, () => {
      const liveBefore = liveTensorCount();
      const complete = killedFs(Number.POSITIVE_INFINITY);
      const probeDir = join(temp, `probe-${secondStep}`);
      saveCheckpoint(probeDir, 'last', content(1, 1));
      saveCheckpoint(probeDir, 'last', content(secondStep, 2), { fs: complete.fs });
      const renamed = (target: RegExp): number => complete.ops.findIndex((op) => /^rename \S+ -> /.test(op) && target.test(op.split(' -> ')[1]));
      const tensorsDone = renamed(new RegExp(`^last-00000000${secondStep}-2\\.safetensors$`));
      const jsonDone = renamed(new RegExp(`^last-00000000${secondStep}-2\\.json$`));
      const commit = renamed(/^last\.json$/);
      assert.ok(tensorsDone >= 0 && tensorsDone < jsonDone && jsonDone < commit, complete.ops.join('\n'));
      assert.ok(complete.ops.length > 20, `a save makes ${complete.ops.length} operations`);
      // killAt = tensorsDone + 1 is "between writing the tensors and the JSON"; every other moment is covered too.
      for (let killAt = 0; killAt < complete.ops.length; killAt += 1) {
        const runDir = join(temp, `killed-${secondStep}-${killAt}`);
        saveCheckpoint(runDir, 'last', content(1, 1));
        try {
          saveCheckpoint(runDir, 'last', content(secondStep, 2), { fs: killedFs(killAt).fs });
        } catch {
          // The save dies with the process (a kill during pruning goes unnoticed: pruning never fails a save).
        }
        const where = `killed before '${complete.ops[killAt]}'`;
        const checkpoint = readCheckpoint(runDir);
        checkpoint.dispose();
        assert.deepEqual(checkpoint.meta.metrics, { save: killAt > commit ? 2 : 1 }, where);
        assert.deepEqual(checkpoint.problems, [], where);
        assert.equal(resumeFromCheckpoint(runDir, { model, optimizer }).step, checkpoint.meta.step, where);
        saveCheckpoint(runDir, 'last', content(3, 3));
        const left = readdirSync(join(runDir, 'checkpoints')).map((file) => file.replace(/-\d+\.(json|safetensors)$/, '.$1')).sort();
        assert.deepEqual(left, ['last-000000003.json', 'last-000000003.safetensors', 'last.json'], where);
      }
      assert.equal(liveTensorCount(), liveBefore);
    });
  }
});

const KILL_ROUNDS = 4;
const SOURCE = new URL('..', import.meta.url); // src/

/**
 * A child that saves checkpoints in a loop (one SGD step between saves, so each differs) and prints
 * `saved <step>` after each save returns. ~300 KB a save, tens of ms with the fsyncs.
 */
function childProgram(runDir: string): string {
  const module = (path: string): string => JSON.stringify(new URL(path, SOURCE).href);
  return `
    const { saveCheckpoint } = await import(${module('train/checkpoint.ts')});
    const { Conv2d } = await import(${module('nn/layers.ts')});
    const { SGD } = await import(${module('torch/optim/sgd.ts')});
    const { manualSeed, randn } = await import(${module('torch/creation.ts')});
    const { noGrad, scope } = await import(${module('torch/scope.ts')});
    manualSeed(11);
    const model = new Conv2d(64, 64, { kernelSize: 3 });
    const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    for (let step = 1; ; step += 1) {
      scope(() => {
        model.forward(randn([1, 64, 4, 4])).pow(2).mean().backward();
        noGrad(() => optimizer.step());
        optimizer.zeroGrad();
      });
      saveCheckpoint(${JSON.stringify(runDir)}, 'last', { model, optimizer, step, stage: 'pretrain',
        loaderPosition: { epoch: 0, batch: step }, config: { step }, splitIds: [], metrics: { step } });
      process.stdout.write('saved ' + step + '\\n');
    }`;
}

/** Runs the child until it has saved `saves` checkpoints, SIGKILLs it `delayMs` later; returns the last step it reported. */
function killWhileSaving(runDir: string, saves: number, delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', childProgram(runDir)],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CONTRASEG_NUM_THREADS: '1' } });
    let reported = 0;
    let output = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      for (const match of output.matchAll(/saved (\d+)\n/g)) reported = Math.max(reported, Number(match[1]));
      if (reported >= saves && child.exitCode === null && !child.killed) setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(reported);
      else reject(new Error(`the child exited with ${code} before it was killed: ${stderr}`));
    });
  });
}

describe('a process SIGKILLed while saving checkpoints in a loop', () => {
  it(`leaves its last completed checkpoint (or the one it was finishing) intact and latest, ${KILL_ROUNDS} random kills`, async () => {
    for (let round = 0; round < KILL_ROUNDS; round += 1) {
      const runDir = join(temp, `sigkill-${round}`);
      const saves = 2 + Math.floor(Math.random() * 4);
      const delayMs = Math.floor(Math.random() * 60);
      const reported = await killWhileSaving(runDir, saves, delayMs);
      const where = `round ${round}: killed ${delayMs} ms after save ${saves}, last reported save ${reported}`;
      const debris = readdirSync(join(runDir, 'checkpoints'));
      const checkpoint = readCheckpoint(runDir);
      try {
        assert.ok(checkpoint.meta.step === reported || checkpoint.meta.step === reported + 1, `${where}; latest is ${checkpoint.meta.step}`);
        assert.deepEqual(checkpoint.meta.metrics, { step: checkpoint.meta.step }, where);
        assert.deepEqual(checkpoint.problems, [], `${where}; files: ${debris.join(', ')}`);
      } finally {
        checkpoint.dispose();
      }
      const model = new Conv2d(64, 64, { kernelSize: 3 });
      const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
      try {
        assert.equal(resumeFromCheckpoint(runDir, { model, optimizer }).step, checkpoint.meta.step, where);
        saveCheckpoint(runDir, 'last', { model, optimizer, step: checkpoint.meta.step + 1, stage: 'pretrain',
          loaderPosition: { epoch: 0, batch: 0 }, config: {}, splitIds: [] });
        assert.ok(!readdirSync(join(runDir, 'checkpoints')).some((file) => file.includes('.tmp-')), `${where}: the next save prunes the debris`);
      } finally {
        optimizer.dispose();
        model.dispose();
      }
    }
  });
});
