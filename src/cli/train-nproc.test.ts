import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { temporaryFolder, writeTinyCamVid } from '../data/fixtures.js';
import { readCheckpoint } from '../train/checkpoint.js';
import { freePort } from '../distributed/testing-launch.js';
import { EXIT_CODES } from './main.js';
import { cli } from './testing.js';

// `train --nproc 2`: two local ranks of the CLI on loopback, 1 thread each (the numerics of data parallelism
// are tested in src/distributed/data-parallel.test.ts; here: the wiring, who writes, resume rules).

const folder = await temporaryFolder('contraseg-nproc-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
await writeTinyCamVid(root, { test: 1 });


const tiny = ['--dataset', 'camvid', '--root', root, '--labelled', '3', '--batch-size', '2', '--crop', '32', '--width', '0.0625',
  '--workers', '1', '--threads', '1', '--dist-timeout', '60'];

test('train --nproc 2 --sync-bn: one run directory written by rank 0 only, world size in the checkpoints', { timeout: 240_000 }, async () => {
  const runDir = join(folder.path, 'run');
  const trained = await cli('train', ...tiny, '--pretrain-steps', '2', '--finetune-steps', '2', '--checkpoint-every', '1', '--set', 'logEvery=1',
    '--nproc', '2', '--sync-bn', '--out', runDir);
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stderr, /starting 2 ranks on 127\.0\.0\.1:\d+, 1 thread\(s\) each/);
  for (const file of ['config.json', 'split.txt', 'metrics.jsonl', 'summary.json', 'checkpoints/finetune.json']) assert.ok(existsSync(join(runDir, file)), file);
  const steps = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record.kind === 'step');
  // One line per step (rank 1 writes none): pretrain 1, 2 and finetune 1, 2.
  assert.deepEqual(steps.map((record) => `${String(record.stage)}${String(record.step)}`), ['pretrain1', 'pretrain2', 'finetune1', 'finetune2']);
  const checkpoint = readCheckpoint(runDir, { name: 'finetune' });
  const worldSize = checkpoint.meta.metrics.worldSize;
  checkpoint.dispose();
  assert.equal(worldSize, 2);

  const resumedAlone = await cli('train', '--resume', runDir);
  assert.equal(resumedAlone.code, EXIT_CODES.CONFIG, resumedAlone.stderr);
  assert.match(resumedAlone.stderr, /was written by a run of 2 process\(es\) but this run has 1; resume with the same world size \(--nproc 2/);
});

test('--nproc: a bad value is a ConfigError; --nproc inside a launched rank is refused', async () => {
  const bad = await cli('train', ...tiny, '--nproc', '0', '--out', join(folder.path, 'never'));
  assert.equal(bad.code, EXIT_CODES.CONFIG);
  assert.match(bad.stderr, /--nproc: expected a positive integer, got 0/);
  process.env.WORLD_SIZE = '2';
  try {
    const nested = await cli('train', ...tiny, '--nproc', '2', '--out', join(folder.path, 'never'));
    assert.equal(nested.code, EXIT_CODES.CONFIG);
    assert.match(nested.stderr, /already launched as a rank \(WORLD_SIZE=2\)/);
  } finally {
    delete process.env.WORLD_SIZE;
  }
});

/** Starts one rank of the CLI as its own process (as torchrun would) and resolves with its exit and stderr. */
function startRank(argv: string[], env: Record<string, string>): { kill: () => void; done: Promise<{ code: number | null; stderr: string }> } {
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const hard = setTimeout(() => child.kill('SIGKILL'), 200_000);
  return {
    kill: () => child.kill('SIGKILL'),
    done: new Promise((resolve) => child.on('close', (code) => { clearTimeout(hard); resolve({ code, stderr }); })),
  };
}

test('a rank killed mid-run: rank 0 stops at once with a DistributedError (exit 9); --resume --nproc 2 finishes the run', { timeout: 300_000 }, async () => {
  const runDir = join(folder.path, 'killed');
  const port = await freePort();
  const argv = ['train', ...tiny, '--method', 'ce', '--no-baseline', '--no-test', '--pretrain-steps', '0', '--finetune-steps', '400', '--checkpoint-every', '2',
    '--eval-every', '0', '--out', runDir];
  const env = (rank: number) => ({ MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), WORLD_SIZE: '2', RANK: String(rank), LOCAL_RANK: String(rank), CONTRASEG_NUM_THREADS: '1' });
  const root0 = startRank(argv, env(0));
  const rank1 = startRank(argv, env(1));
  const pointer = join(runDir, 'checkpoints', 'finetune.json');
  const deadline = Date.now() + 150_000;
  while (!existsSync(pointer) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(existsSync(pointer), 'no checkpoint appeared');
  const killedAt = Date.now();
  rank1.kill();
  const survivor = await root0.done;
  await rank1.done;
  assert.equal(survivor.code, EXIT_CODES.DISTRIBUTED, survivor.stderr);
  assert.match(survivor.stderr, /contraseg: rank 0 of 2: (allReduce \((avg|max)\)|broadcast from rank 0): .*(Connection closed by peer|reset by peer|Broken pipe)/);
  assert.ok(Date.now() - killedAt < 60_000, 'rank 0 did not stop within --dist-timeout');

  const resumed = await cli('train', '--resume', runDir, '--nproc', '2');
  assert.equal(resumed.code, 0, resumed.stderr);
  const checkpoint = readCheckpoint(runDir, { name: 'finetune' });
  const step = checkpoint.meta.step;
  checkpoint.dispose();
  assert.equal(step, 400);
});

test('the contraseg script itself with --nproc 2 (its top-level await must not wait on the launcher)', { timeout: 240_000 }, async () => {
  const runDir = join(folder.path, 'script');
  const { done } = startRank(['train', ...tiny, '--method', 'ce', '--no-baseline', '--no-test', '--pretrain-steps', '0', '--finetune-steps', '2',
    '--eval-every', '0', '--nproc', '2', '--out', runDir], {});
  const { code, stderr } = await done;
  assert.equal(code, 0, stderr);
  assert.ok(existsSync(join(runDir, 'summary.json')));
});
