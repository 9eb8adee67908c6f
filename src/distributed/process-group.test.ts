import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../errors.js';
import { readLaunchEnv } from './init.js';
import { fileStore, ProcessGroup } from './process-group.js';
import { tensor, scope, liveTensorCount } from '../torch/index.js';
import { DistributedError } from '../errors.js';
import { temporaryFolder } from '../data/fixtures.js';
import { join } from 'node:path';
import { freePort, launchRanks, localRanks, type RankOutcome } from './testing-launch.js';

// Two ranks on loopback, 1 thread each. Expected values are computed by hand from each rank's inputs
// (rank r contributes [r+1, 10(r+1), -r] and so on); tolerances are exact: every value is a small integer
// or half-integer, exact in float32.

function reportOf(outcome: RankOutcome): Record<string, unknown> {
  assert.equal(outcome.killedByHardTimeout, false, `rank hung; stderr: ${outcome.stderr}`);
  assert.ok(outcome.report !== null, `no report; exit ${outcome.exitCode}, stderr: ${outcome.stderr}`);
  return outcome.report;
}

test('all-reduce (sum, avg, max, mixed dtypes in one call), broadcast, all-gather and barrier across 2 ranks; no tensor leaks', { timeout: 60_000 }, async () => {
  const outcomes = await launchRanks({ scenario: 'collectives', ranks: localRanks(await freePort(), 2), timeoutMs: 10_000, hardTimeoutMs: 50_000 });
  for (const outcome of outcomes) {
    assert.deepEqual(reportOf(outcome), {
      leaked: 0, sum: [3, 30, -1], count: [3], avg: [0.5, 1], max: [1, 0], broadcast: [101], gathered: [[0, 1], [7, 8]],
    });
  }
});

test('a rank killed mid-run: the other stops at once with DistributedError (peer), far inside its timeout', { timeout: 60_000 }, async () => {
  const timeoutMs = 20_000;
  const [survivor, killed] = await launchRanks({ scenario: 'die', ranks: localRanks(await freePort(), 2), timeoutMs, hardTimeoutMs: 50_000 });
  assert.equal(killed?.exitCode, 9);
  const report = reportOf(survivor as RankOutcome);
  const error = report.error as Record<string, unknown>;
  assert.equal(error.name, 'DistributedError');
  assert.equal(error.code, 'DISTRIBUTED');
  assert.equal(error.kind, 'peer');
  assert.match(String(error.message), /rank 0 of 2: allReduce \(sum\): .*Connection closed by peer.*Another rank failed or stopped/);
  assert.ok((report.elapsedMs as number) < timeoutMs, `took ${String(report.elapsedMs)} ms`);
});

test('a rank that stalls (alive, never joins the collective): the other stops after the timeout with kind timeout', { timeout: 60_000 }, async () => {
  const timeoutMs = 2000;
  const [waiting] = await launchRanks({ scenario: 'stall', ranks: localRanks(await freePort(), 2), timeoutMs, hardTimeoutMs: 40_000 });
  const report = reportOf(waiting as RankOutcome);
  const error = report.error as Record<string, unknown>;
  assert.equal(error.name, 'DistributedError');
  assert.equal(error.kind, 'timeout');
  const elapsed = report.elapsedMs as number;
  // Gloo checks its deadline while waiting, so it fires at the timeout plus scheduling slack on a busy machine.
  assert.ok(elapsed >= timeoutMs * 0.9 && elapsed < timeoutMs + 10_000, `took ${elapsed} ms for a ${timeoutMs} ms timeout`);
});

test('unreachable MASTER_ADDR: DistributedError naming the address within the timeout, no hang', { timeout: 60_000 }, async () => {
  const timeoutMs = 3000;
  const port = await freePort();
  // Rank 1 alone, pointed at a port where no rank 0 serves (and at an unresolvable host).
  for (const address of ['127.0.0.1', 'no-such-host.invalid']) {
    const [outcome] = await launchRanks({ scenario: 'init', timeoutMs, hardTimeoutMs: 40_000,
      ranks: [{ ...localRanks(port, 2)[1], MASTER_ADDR: address }] });
    const error = reportOf(outcome as RankOutcome).initError as Record<string, unknown>;
    assert.equal(error.name, 'DistributedError', JSON.stringify(error));
    assert.ok(error.kind === 'timeout' || error.kind === 'store', JSON.stringify(error));
    assert.match(String(error.message), new RegExp(`connecting to the TCPStore at tcp://${address.replace(/\./g, '\\.')}:${port}.*MASTER_ADDR`));
    assert.ok((outcome as RankOutcome).elapsedMs < timeoutMs + 20_000);
  }
});

test('MASTER_PORT already in use on rank 0: DistributedError kind store, with the fix', { timeout: 60_000 }, async () => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)));
  try {
    const [outcome] = await launchRanks({ scenario: 'init', timeoutMs: 3000, hardTimeoutMs: 40_000, ranks: [localRanks(port, 2)[0] as Record<string, string>] });
    const error = reportOf(outcome as RankOutcome).initError as Record<string, unknown>;
    assert.equal(error.name, 'DistributedError', JSON.stringify(error));
    assert.match(String(error.message), new RegExp(`serving the TCPStore on tcp://127\\.0\\.0\\.1:${port}.*MASTER_PORT is free`));
  } finally {
    blocker.close();
  }
});

test('mismatched WORLD_SIZE: ConfigError naming both sizes on the odd rank, a timeout (not a hang) on rank 0', { timeout: 60_000 }, async () => {
  const timeoutMs = 3000;
  const ranks = localRanks(await freePort(), 2);
  ranks[1] = { ...ranks[1], WORLD_SIZE: '3' };
  const [root, odd] = await launchRanks({ scenario: 'init', ranks, timeoutMs, hardTimeoutMs: 40_000 });
  const oddError = reportOf(odd as RankOutcome).initError as Record<string, unknown>;
  assert.equal(oddError.name, 'ConfigError');
  assert.match(String(oddError.message), /rank 1 was started with WORLD_SIZE=3 but rank 0 with WORLD_SIZE=2/);
  const rootError = reportOf(root as RankOutcome).initError as Record<string, unknown>;
  assert.equal(rootError.name, 'DistributedError', JSON.stringify(rootError));
  assert.match(String(rootError.message), /same WORLD_SIZE/);
});

test('the same RANK twice: ConfigError on the second process, a timeout (not a hang) for the others', { timeout: 60_000 }, async () => {
  const ranks = localRanks(await freePort(), 3);
  ranks[2] = { ...ranks[2], RANK: '1' };
  const outcomes = await launchRanks({ scenario: 'init', ranks, timeoutMs: 3000, hardTimeoutMs: 40_000 });
  const errors = outcomes.map((outcome) => reportOf(outcome).initError as Record<string, unknown>);
  const refused = errors.filter((error) => error.name === 'ConfigError');
  assert.equal(refused.length, 1, JSON.stringify(errors));
  assert.match(String(refused[0]?.message), /RANK=1 is already taken by another process of this job \(WORLD_SIZE=3\)/);
  assert.ok(errors.filter((error) => error.name === 'DistributedError').length === 2, JSON.stringify(errors));
});

test('readLaunchEnv: the variables of torchrun\'s contract, and a ConfigError naming each bad one', () => {
  const good = { MASTER_ADDR: 'node-0', MASTER_PORT: '29500', WORLD_SIZE: '4', RANK: '3', LOCAL_RANK: '1' };
  assert.deepEqual(readLaunchEnv(good), { masterAddr: 'node-0', masterPort: 29500, worldSize: 4, rank: 3, localRank: 1 });
  const cases: [Record<string, string | undefined>, RegExp][] = [
    [{ MASTER_ADDR: undefined }, /MASTER_ADDR is not set/],
    [{ MASTER_ADDR: 'tcp://node-0' }, /MASTER_ADDR='tcp:\/\/node-0' is not a host name/],
    [{ MASTER_PORT: undefined }, /MASTER_PORT is not set.*--nproc/],
    [{ MASTER_PORT: 'http' }, /MASTER_PORT='http' is not an integer in 1\.\.65535/],
    [{ MASTER_PORT: '70000' }, /MASTER_PORT='70000' is not an integer in 1\.\.65535/],
    [{ WORLD_SIZE: '0' }, /WORLD_SIZE='0' is not an integer/],
    [{ WORLD_SIZE: '2.5' }, /WORLD_SIZE='2.5' is not an integer/],
    [{ RANK: '-1' }, /RANK='-1' is not an integer/],
    [{ RANK: '4' }, /RANK=4 is not below WORLD_SIZE=4/],
    [{ LOCAL_RANK: 'x' }, /LOCAL_RANK='x' is not an integer/],
  ];
  for (const [change, message] of cases) {
    const env = { ...good, ...change };
    assert.throws(() => readLaunchEnv(env), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(change));
  }
});

test('FileStore: set/get/add, a wait past its timeout is a DistributedError (timeout); a 1-rank group over it', async () => {
  const folder = await temporaryFolder('contraseg-filestore-');
  try {
    const store = fileStore(join(folder.path, 'store'), 1, 2000);
    store.set('greeting', 'hello');
    assert.equal(store.get('greeting'), 'hello');
    assert.equal(store.add('counter', 2), 2);
    assert.equal(store.add('counter', 3), 5);
    const start = Date.now();
    assert.throws(() => store.wait(['never-set'], 300), (error: unknown) => error instanceof DistributedError && error.kind === 'timeout' &&
      /store file:\/\/.*: wait for never-set/.test(error.message));
    assert.ok(Date.now() - start < 5000);
    const group = ProcessGroup.create(store, { rank: 0, worldSize: 1, timeoutMs: 2000, device: { hostname: '127.0.0.1' }, threads: 1 });
    const before = liveTensorCount();
    scope(() => {
      const values = tensor([1.5, -2], [2]);
      group.allReduce(values, 'avg');
      assert.deepEqual(values.toArray(), [1.5, -2]);
      assert.deepEqual(group.allGather(values).map((part) => part.toArray()), [[1.5, -2]]);
    });
    assert.equal(liveTensorCount(), before);
    assert.throws(() => group.allReduce(tensor([1], [1], { dtype: 'int64' }), 'avg'),
      (error: unknown) => error instanceof DistributedError && error.kind === 'usage' && /'avg' needs float32 or float64 tensors, got int64/.test(error.message));
    group.destroy();
    group.destroy(); // idempotent
    assert.throws(() => group.barrier(), (error: unknown) => error instanceof DistributedError && error.kind === 'usage' && /destroyed/.test(error.message));
  } finally {
    await folder.remove();
  }
});
