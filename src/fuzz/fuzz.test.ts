// The file fuzzer, quick variant (the long one is `npm run fuzz -- --cases 10000`): a seeded run over every
// target must end in success or typed errors only, and the harness itself must report each kind of
// failure it exists to catch (a test that cannot fail is a defect).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runFuzz } from './run.js';
import { TARGETS } from './targets.js';
import { caseRng } from './child.js';

describe('fuzz harness', () => {
  it('reports an abort as a crash, a hang as a hang, a blow-up as memory and a plain TypeError as untyped; a typed error passes', async () => {
    const report = await runFuzz({
      cases: 5, seed: 1, targets: ['selftest-abort', 'selftest-hang', 'selftest-untyped', 'selftest-memory', 'selftest-typed'],
      timeoutMs: 20_000, memoryLimitBytes: 1.2 * 2 ** 30,
    });
    const outcome = (target: string): string | undefined => report.findings.find((finding) => finding.target === target)?.outcome;
    assert.equal(outcome('selftest-abort'), 'crash');
    assert.equal(outcome('selftest-hang'), 'hang');
    assert.equal(outcome('selftest-untyped'), 'untyped');
    assert.equal(outcome('selftest-memory'), 'memory');
    assert.equal(outcome('selftest-typed'), undefined);
    assert.equal(report.byTarget['selftest-typed']?.typed, 1);
    assert.equal(report.findings.length, 4);
  });

  it('derives each case from (seed, target, index) alone', () => {
    const draws = (index: number): number[] => { const rng = caseRng({ seed: 3, target: 'image', index }); return [rng.next(), rng.next()]; };
    assert.deepEqual(draws(17), draws(17));
    assert.notDeepEqual(draws(17), draws(18));
  });
});

describe('fuzz, quick seeded run', () => {
  it('every file reader ends each mutated input in success or a typed error: no crash, hang, blow-up, untyped error or leak', async () => {
    const targets = TARGETS.filter((target) => target.internal !== true);
    const perRound = targets.reduce((total, target) => total + (target.weight ?? 3), 0);
    const rounds = 10;
    const report = await runFuzz({ cases: rounds * perRound, seed: 20261202 });
    const listed = report.findings.map((finding) => `${finding.outcome} ${finding.target} case ${finding.index} (${finding.mutation}): ${finding.error}`);
    assert.deepEqual(listed, []);
    for (const { name, weight } of targets) {
      const counts = report.byTarget[name];
      assert.equal(counts?.cases, rounds * (weight ?? 3), name);
      assert.ok((counts?.typed ?? 0) > 0, `${name}: no mutation was rejected, so none reached the reader's checks`);
    }
    assert.equal(report.children, 1, 'the child process was restarted, i.e. something crashed');
    // 140 cases in one child: warm and half-way are both the sample after 50 cases; the end is after 140.
    assert.equal(report.rssHalfBytes, report.rssWarmBytes);
    assert.ok(report.rssWarmBytes > 0 && report.rssEndBytes > 0 && report.rssMaxBytes >= report.rssEndBytes);
  });
});
