import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fixtureImage, temporaryFolder, writeCamVidFixture } from '../data/fixtures.js';
import { native } from '../torch/native.js';
import { liveTensorCount } from '../torch/scope.js';
import { CHECKPOINT_WRITES, parseRunConfig } from './config.js';
import { runTraining } from './run.js';

const folder = await temporaryFolder('contraseg-leak-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
await writeCamVidFixture(root, { train: Array.from({ length: 4 }, (_, i) => fixtureImage(`t${i}`, 36, 28, [0, 3, 5, 11], i)) });

/** Least-squares slope of `values` against their index (units per sample). */
function trend(values: readonly number[]): number {
  const meanX = (values.length - 1) / 2;
  const meanY = values.reduce((sum, value) => sum + value, 0) / values.length;
  let covariance = 0;
  let variance = 0;
  values.forEach((value, x) => { covariance += (x - meanX) * (value - meanY); variance += (x - meanX) ** 2; });
  return covariance / variance;
}

/** The process's resident memory outside V8's JS heap: native allocations, ArrayBuffers, code. */
function nativeBytes(): number {
  const usage = process.memoryUsage();
  return usage.rss - usage.heapTotal;
}

/** Whether malloc's bytes in use can be read (mallinfo2: glibc >= 2.33). */
const hasMallocStats = native.mallocStats() !== null;

/** Bytes in live malloc blocks (mallinfo2 over every arena); NaN where they cannot be read. */
function mallocInUse(): number {
  return native.mallocStats()?.inUse ?? Number.NaN;
}

for (const writes of CHECKPOINT_WRITES) {
  test(`checkpointWrites ${writes}: 500 pretraining and 400 fine-tuning steps: liveTensorCount constant from step to step, malloc bytes in use and RSS flat once warm`,
    async (t) => {
    const config = parseRunConfig({
      checkpointWrites: writes,
      // A checkpoint every 25 steps, 6 saves in each measured window below: a snapshot (1.6 MB here) kept per
      // save would add >= 9.6 MB. (Measured 2026-12-03, RSS growth over the windows, pretrain / finetune: the
      // synchronous saves before checkpoint-writer.ts, 6.5-7.1 / 12.9-17.6 MB at every 25 steps, 5.3 / 1.4-1.5
      // at every 100; the background writer 3.8-6.9 / 1.5-2.0 at every 25, 4.8-7.5 / 1.9 at every 100.)
      batchSize: 2, logEvery: 50, checkpointEvery: 25, threads: 1,
      data: { kind: 'camvid', root, valSplit: null, testSplit: null, labelled: 'all', crop: { height: 24, width: 24 }, workers: 1 },
      model: { widthMultiplier: 0.0625 },
      pretrain: { steps: 500, optimizer: { kind: 'sgd', lr: 0.01 } },
      finetune: { steps: 400, optimizer: { kind: 'sgd', lr: 0.01 } },
      eval: { test: false },
    });
    const counts: Record<string, number[]> = { pretrain: [], finetune: [] };
    const rss: Record<string, number[]> = { pretrain: [], finetune: [] };
    const inUse: Record<string, number[]> = { pretrain: [], finetune: [] };
    const before = liveTensorCount();
    await runTraining({
      config, runDir: join(folder.path, `run-${writes}`), resume: false, stages: 'both',
      events: { onStep: (record) => { counts[record.stage]?.push(liveTensorCount()); rss[record.stage]?.push(nativeBytes()); inUse[record.stage]?.push(mallocInUse()); } },
    });
    assert.equal(liveTensorCount(), before);
    for (const stage of ['pretrain', 'finetune']) {
      const live = counts[stage] as number[];
      assert.equal(live.length, stage === 'pretrain' ? 500 : 400);
      // after the first step (optimiser state created), every step ends with exactly the same live tensors
      assert.deepEqual(new Set(live.slice(1)), new Set([live[1]]), `${stage}: live tensors ${[...new Set(live)].join(', ')}`);
      // Two memory checks over the last steps of each stage, after the allocator and V8 have warmed up (~200
      // contrastive steps, +15 MB): 300 of pretraining, 300 of fine-tuning. One leaked stage-sized buffer per
      // step (the contrastive workspace or a feature map, >= 50 kB here) would add >= 15 MB there; each
      // bound is 2/3 of that, so such a leak exceeds it by half.
      // - malloc's bytes in use: native memory outside tensors (tensor handles are counted exactly above).
      //   The training loop turns the event loop every step so that Node-API finalizers free the native side
      //   of collected tensor wrappers; when it did not, this rose ~25 kB per step (2026-12-03, sync writes).
      // - RSS without V8's heap (nativeBytes), which V8 grows lazily (sync writes: heapTotal 28 -> 59 MB over
      //   900 steps, then flat; the background writer thread's own heap is in RSS): a leaked ArrayBuffer, mmap or
      //   malloc block counts here. What a non-leaking run shows is not a per-step trend but the allocator
      //   holding a few 1.6 MB checkpoint snapshots at times.
      // The trend, not two single samples: the least-squares slope over the window times its length, which the
      // allocator's ups and downs of a few MB move little (3 runs of steps 200-500: last minus first 9.4, -0.3,
      // 9.6 MB, slope 4.0, -2.3, 2.3 MB); a steady leak moves both alike.
      const window = 300;
      const bound = (2 / 3) * window * 50e3;
      const measures: Array<[string, number[]]> = [['RSS outside the JS heap', rss[stage] as number[]]];
      if (hasMallocStats) measures.push(["malloc's bytes in use", inUse[stage] as number[]]);
      for (const [what, memory] of measures) {
        const growth = trend(memory.slice(-window)) * window;
        t.diagnostic(`${stage}: ${what}: ${(growth / 2 ** 20).toFixed(2)} MB over the last ${window} steps (bound ${(bound / 2 ** 20).toFixed(1)} MB)`);
        assert.ok(growth < bound, `${stage}: ${what} rose at ${(growth / window / 1e3).toFixed(1)} kB per step over the last ${window} steps ` +
          `(${(growth / 2 ** 20).toFixed(1)} MB in all; bound ${(bound / 2 ** 20).toFixed(1)} MB, 2/3 of a 50 kB/step leak)`);
      }
    }
  });
}
