/**
 * The background checkpoint writer (checkpoint-writer.ts): the bytes it writes are those of the
 * synchronous saveCheckpoint; save() returns before they are durable and training goes on meanwhile;
 * flush() waits for them; a failed write is raised by the next save() or flush() and stops a stage, with the
 * previous checkpoint intact. The writer thread's file system is node:fs made to block or fail on purpose
 * (checkpoint-test-fs.ts), through the real worker thread.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Batch, Loader, LoaderPosition } from '../data/loader.js';
import { temporaryFolder } from '../data/fixtures.js';
import { CheckpointError, InterruptedError } from '../errors.js';
import { Conv2d } from '../nn/layers.js';
import { manualSeed, randn } from '../torch/creation.js';
import { SGD } from '../torch/optim/sgd.js';
import { keep, liveTensorCount, noGrad, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { readCheckpoint, saveCheckpoint, type CheckpointContent } from './checkpoint.js';
import { CHECKPOINT_DIR } from './checkpoint-store.js';
import { GATE_REACHED, closedGate, openGate, waitUntilBlocked, type TestFsData } from './checkpoint-test-fs.js';
import { CheckpointWriter } from './checkpoint-writer.js';
import { runStage } from './loop.js';

const folder = await temporaryFolder('contraseg-writer-');
after(() => folder.remove());
const TEST_FS = new URL('./checkpoint-test-fs.ts', import.meta.url);
/** Generous: the writer thread starts with tsx's hooks, on a machine shared with other work. */
const BLOCK_TIMEOUT_MS = 60_000;

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => { unhandled.push(reason); });
after(() => assert.deepEqual(unhandled, [], 'no unhandled rejection'));

manualSeed(13);
const model = new Conv2d(3, 6, { kernelSize: 3 });
const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
scope(() => {
  model.forward(randn([2, 3, 5, 5])).pow(2).mean().backward();
  noGrad(() => optimizer.step()); // momentum buffers exist from here on
  optimizer.zeroGrad();
});
after(() => { optimizer.dispose(); model.dispose(); });

const content = (step: number): CheckpointContent => ({ model, optimizer, step, stage: 'pretrain',
  loaderPosition: { epoch: 0, batch: step }, config: { lr: 0.1 }, splitIds: ['a', 'b'], metrics: { step } });

const writerWith = (data: TestFsData): CheckpointWriter => new CheckpointWriter({ fsModule: TEST_FS, fsData: data });
const pointerOf = (runDir: string, series: string): string => join(runDir, CHECKPOINT_DIR, `${series}.json`);
const tempFiles = (runDir: string): string[] => readdirSync(join(runDir, CHECKPOINT_DIR)).filter((file) => file.includes('.tmp-'));

/** A loader of 2 fixed batches per epoch; tensors are [1, 3, 5, 5] images (labels unused). */
function fixedLoader(): Loader<Batch> {
  manualSeed(4);
  const images = [keep(randn([1, 3, 5, 5])), keep(randn([1, 3, 5, 5]))];
  return {
    batchesPerEpoch: 2,
    epoch: () => { throw new Error('not used'); },
    async *stream(from?: LoaderPosition) {
      for (let step = (from?.epoch ?? 0) * 2 + (from?.batch ?? 0); ; step += 1) {
        const batchImages = keep((images[step % 2] as Tensor).clone());
        yield { ids: [`${step}`], images: batchImages, labels: batchImages, dispose: () => batchImages.dispose() };
      }
    },
    dispose: async () => { for (const image of images) image.dispose(); },
  };
}

/** Runs `steps` SGD steps of the module-level model with a checkpoint every 2, saved by `writer`. */
async function trainWith(writer: CheckpointWriter, runDir: string, steps: number, hooks: {
  onStep?(step: number): void; afterSave?(step: number): void; signal?: AbortSignal;
} = {}): Promise<void> {
  const loader = fixedLoader();
  try {
    await runStage({
      stage: 'pretrain', steps, startStep: 0, loader, optimizer, schedule: () => 0.01, gradClip: null,
      lossOf: (batch) => model.forward(batch.images).pow(2).mean(),
      checkpointEvery: 2,
      saveCheckpoint: async (step, position) => {
        await writer.save(runDir, 'pretrain', { ...content(step), loaderPosition: position });
        hooks.afterSave?.(step);
      },
      flushCheckpoints: () => writer.flush(),
      evaluateEvery: 0,
      onStep: (record) => hooks.onStep?.(record.step),
      ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
    });
  } finally {
    await loader.dispose();
  }
}

describe('CheckpointWriter', () => {
  it('writes the very bytes of the synchronous saveCheckpoint (read back and verified by readCheckpoint)', async () => {
    const liveBefore = liveTensorCount();
    const background = join(folder.path, 'background');
    const synchronous = join(folder.path, 'synchronous');
    const writer = new CheckpointWriter();
    try {
      const path = await writer.save(background, 'last', content(3), { keep: 2 });
      await writer.flush();
      const expectedPath = saveCheckpoint(synchronous, 'last', content(3), { keep: 2 });
      const got = readCheckpoint(background);
      const expected = readCheckpoint(synchronous);
      try {
        assert.equal(got.file, path);
        assert.deepEqual(got.problems, []);
        assert.ok(readFileSync(got.tensorsFile).equals(readFileSync(expected.tensorsFile)), 'the tensors files are identical');
        const { savedAt: gotAt, ...gotMeta } = got.meta;
        const { savedAt: expectedAt, ...expectedMeta } = expected.meta;
        assert.deepEqual(gotMeta, expectedMeta);
        assert.ok(Number.isFinite(Date.parse(gotAt)) && Number.isFinite(Date.parse(expectedAt)));
        assert.equal(expectedPath.slice(synchronous.length), path.slice(background.length));
        // and they hold the live state: weights and momentum buffers, value for value
        for (const [key, value] of model.stateDict()) assert.deepEqual(got.tensors.get(`model.${key}`)?.toTypedArray(), value.toTypedArray(), key);
        for (const [key, value] of optimizer.stateDict().tensors) assert.deepEqual(got.tensors.get(`optim.${key}`)?.toTypedArray(), value.toTypedArray(), key);
      } finally {
        got.dispose();
        expected.dispose();
      }
    } finally {
      await writer.close();
    }
    assert.equal(liveTensorCount(), liveBefore);
  });

  it('save() returns before the files are durable; flush() waits until they are', { timeout: 2 * BLOCK_TIMEOUT_MS }, async () => {
    const runDir = join(folder.path, 'flush');
    const gate = closedGate();
    const writer = writerWith({ gate });
    try {
      await writer.save(runDir, 'last', content(1));
      assert.equal(existsSync(pointerOf(runDir, 'last')), false, 'not committed when save() returns');
      let flushed = false;
      const flushing = writer.flush().then(() => { flushed = true; });
      assert.ok(waitUntilBlocked(gate, BLOCK_TIMEOUT_MS), 'the writer thread reached an fsync');
      await new Promise((resolve) => setTimeout(resolve, 100)); // the event loop turns: flush() could settle if it did not wait
      assert.equal(flushed, false, 'flush() waits while an fsync blocks');
      assert.equal(existsSync(pointerOf(runDir, 'last')), false);
      openGate(gate);
      await flushing;
      const checkpoint = readCheckpoint(runDir);
      checkpoint.dispose();
      assert.equal(checkpoint.meta.step, 1);
      assert.deepEqual(checkpoint.problems, []);
    } finally {
      openGate(gate);
      await writer.close();
    }
  });

  it('the training loop runs its next steps while a checkpoint write is in flight, and waits for it at the next save', { timeout: 2 * BLOCK_TIMEOUT_MS }, async () => {
    const runDir = join(folder.path, 'loop');
    const gate = closedGate();
    const writer = writerWith({ gate });
    const events: string[] = [];
    try {
      await trainWith(writer, runDir, 6, {
        afterSave: (step) => events.push(`saved ${step}${existsSync(pointerOf(runDir, 'pretrain')) ? '' : ' (not durable yet)'}`),
        onStep: (step) => {
          if (step === 4) { // steps 3 and 4 ran after save 2 returned; is its write still blocked?
            assert.ok(waitUntilBlocked(gate, BLOCK_TIMEOUT_MS), 'the writer thread reached an fsync');
            events.push(`step 4 with the write of step 2 blocked in fsync (${Atomics.load(gate, GATE_REACHED)})`);
            assert.equal(existsSync(pointerOf(runDir, 'pretrain')), false, 'save 2 is not committed during steps 3 and 4');
            openGate(gate); // the save after step 4 waits for save 2: release it, or the loop would wait forever
          } else {
            events.push(`step ${step}`);
          }
        },
      });
      assert.deepEqual(events, ['step 1', 'step 2', 'saved 2 (not durable yet)', 'step 3', 'step 4 with the write of step 2 blocked in fsync (1)',
        'saved 4', 'step 5', 'step 6', 'saved 6']);
      const checkpoint = readCheckpoint(runDir, { name: 'pretrain' });
      checkpoint.dispose();
      assert.equal(checkpoint.meta.step, 6, 'runStage returns after flushing the stage\'s last checkpoint');
    } finally {
      openGate(gate);
      await writer.close();
    }
  });

  it('a failed write is raised by the next save() (which is then not made) or by flush(), once; the previous checkpoint stays the latest', async () => {
    for (const raisedBy of ['save', 'flush'] as const) {
      const runDir = join(folder.path, `failed-${raisedBy}`);
      const directory = join(runDir, CHECKPOINT_DIR);
      saveCheckpoint(runDir, 'last', content(1));
      const writer = writerWith({ fullDiskFor: 'last-000000002-2.safetensors' });
      try {
        await writer.save(runDir, 'last', content(2)); // returns: the write fails later, in the background
        const file = join(directory, 'last-000000002-2.safetensors');
        const expected = (error: unknown): boolean => {
          assert.ok(error instanceof CheckpointError, String(error));
          assert.equal(error.file, file);
          assert.equal(error.message, `${file}: cannot write (ENOSPC: no space left on device, write); the previous checkpoint, if any, is unchanged`);
          return true;
        };
        if (raisedBy === 'save') await assert.rejects(writer.save(runDir, 'last', content(3)), expected);
        else await assert.rejects(writer.flush(), expected);
        await writer.flush(); // raised once
        const latest = readCheckpoint(runDir);
        latest.dispose();
        assert.equal(latest.meta.step, 1, raisedBy);
        assert.deepEqual(latest.problems, []);
        assert.deepEqual(tempFiles(runDir), []);
        assert.deepEqual(readdirSync(directory).sort(), ['last-000000001-1.json', 'last-000000001-1.safetensors', 'last.json'], 'save 3 was not made');
      } finally {
        await writer.close();
      }
    }
  });

  it('a failed write stops the training loop at its next save, naming the file', async () => {
    const runDir = join(folder.path, 'loop-failed');
    const writer = writerWith({ fullDiskFor: 'pretrain-000000002-1.safetensors' });
    const steps: number[] = [];
    try {
      await assert.rejects(trainWith(writer, runDir, 8, { onStep: (step) => steps.push(step) }), (error: unknown) => {
        assert.ok(error instanceof CheckpointError, String(error));
        assert.equal(error.file, join(runDir, CHECKPOINT_DIR, 'pretrain-000000002-1.safetensors'));
        assert.match(error.message, /cannot write \(ENOSPC: no space left on device, write\); the previous checkpoint, if any, is unchanged$/);
        return true;
      });
      assert.deepEqual(steps, [1, 2, 3, 4], 'the save after step 4 raised the failure of save 2');
    } finally {
      await writer.close();
    }
  });

  it('a stop on a signal whose final checkpoint fails: the CheckpointError, not an InterruptedError claiming it is saved', async () => {
    const runDir = join(folder.path, 'interrupted-failed');
    const writer = writerWith({ fullDiskFor: 'pretrain-000000001-1.safetensors' });
    const abort = new AbortController();
    try {
      await assert.rejects(trainWith(writer, runDir, 8, { signal: abort.signal, onStep: (step) => { if (step === 1) abort.abort('SIGINT'); } }),
        (error: unknown) => {
          assert.ok(error instanceof CheckpointError && !(error instanceof InterruptedError), String(error));
          assert.equal(error.file, join(runDir, CHECKPOINT_DIR, 'pretrain-000000001-1.safetensors'));
          assert.match(error.message, /cannot write \(ENOSPC[^)]*\); the previous checkpoint, if any, is unchanged\. The stage had stopped before that: pretrain stopped after step 1 of 8/);
          return true;
        });
    } finally {
      await writer.close();
    }
  });
});
