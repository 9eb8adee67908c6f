/**
 * Numerical guards of the training loop (nanPolicy): 'stop' throws a NumericalError naming the stage and
 * the step and leaves the last good checkpoint loadable; 'skip' drops the update of a step whose loss or
 * gradient is not finite (parameters, momentum and BatchNorm statistics stay bit for bit as they were),
 * counts it, and stops after maxNanSkips in a row. Plus the same through a real run (metrics.jsonl, exit 8).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Batch, Loader, LoaderPosition } from '../data/loader.js';
import { fixtureImage, temporaryFolder, writeCamVidFixture } from '../data/fixtures.js';
import { NumericalError } from '../errors.js';
import { BatchNorm2d, Conv2d, ReLU, Sequential } from '../nn/layers.js';
import { full, manualSeed, randint, randn } from '../torch/creation.js';
import { crossEntropy } from '../torch/ops/functional.js';
import { SGD } from '../torch/optim/sgd.js';
import { keep, liveTensorCount } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { EXIT_CODES, runCli } from '../cli/main.js';
import { readCheckpoint, saveCheckpoint } from './checkpoint.js';
import { runStage, type NanGuard, type StepRecord } from './loop.js';
import { readMetrics } from './run-dir.js';

const folder = await temporaryFolder('contraseg-nan-');
after(() => folder.remove());

/** Which step (1-based) is poisoned how: NaN pixels (NaN loss, NaN BatchNorm statistics) or a NaN gradient with a finite loss. */
type Poison = Map<number, 'input' | 'gradient'>;

/** A loader of 4 fixed random batches per epoch, [2, 3, 6, 6] images, 5 classes; step `s` poisoned per `poison`. */
function fakeLoader(poison: Poison): Loader<Batch> {
  manualSeed(3);
  const images = Array.from({ length: 4 }, () => keep(randn([2, 3, 6, 6])));
  const labels = Array.from({ length: 4 }, () => keep(randint(0, 5, [2, 6, 6])));
  return {
    batchesPerEpoch: 4,
    epoch: () => { throw new Error('not used'); },
    async *stream(from?: LoaderPosition) {
      for (let step = (from?.epoch ?? 0) * 4 + (from?.batch ?? 0); ; step += 1) {
        const source = images[step % 4] as Tensor;
        const batchImages = poison.get(step + 1) === 'input' ? keep(full(source.shape, Number.NaN)) : keep(source.clone());
        const batchLabels = keep((labels[step % 4] as Tensor).clone());
        yield { ids: [`${step}a`, `${step}b`], images: batchImages, labels: batchLabels, dispose: () => { batchImages.dispose(); batchLabels.dispose(); } };
      }
    },
    dispose: async () => { for (const tensor of [...images, ...labels]) tensor.dispose(); },
  };
}

/** Every tensor a step may change (weights, BN statistics, momentum buffers), as bytes. */
function stateBytes(model: Sequential, optimizer: SGD): Map<string, string> {
  const state = new Map<string, string>();
  for (const [key, value] of model.stateDict()) state.set(key, Buffer.from(value.toTypedArray().buffer).toString('base64'));
  for (const [key, value] of optimizer.stateDict().tensors) state.set(`optim.${key}`, Buffer.from(value.toTypedArray().buffer).toString('base64'));
  return state;
}

interface StageRun {
  records: StepRecord[];
  /** State after each step (index = step). */
  states: Map<string, string>[];
  saved: number[];
  error?: unknown;
  runDir: string;
}

/** Runs 8 steps of a Conv-BN-ReLU-Conv classifier under SGD momentum with the given poison and guard. */
async function runPoisoned(poison: Poison, guard: Omit<NanGuard, 'buffers'> | undefined, name: string): Promise<StageRun> {
  manualSeed(1);
  const model = new Sequential(new Conv2d(3, 4, { kernelSize: 3, padding: 1 }), new BatchNorm2d(4), new ReLU(), new Conv2d(4, 5, { kernelSize: 1 }));
  model.train();
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const loader = fakeLoader(poison);
  const runDir = join(folder.path, name);
  const run: StageRun = { records: [], states: [stateBytes(model, optimizer)], saved: [], runDir };
  let step = 0;
  try {
    await runStage({
      stage: 'pretrain', steps: 8, startStep: 0, loader, optimizer, schedule: () => 0.1, gradClip: null,
      lossOf: (batch) => {
        const loss = crossEntropy(model.forward(batch.images), batch.labels);
        if (poison.get(step + 1) !== 'gradient') return loss;
        // sqrt(0 * w): value 0, gradient d sqrt(u)/du * du/dw = inf * 0 = NaN
        return loss.add(model.parameters()[0]?.mul(0).sqrt().sum() as Tensor);
      },
      checkpointEvery: 2,
      saveCheckpoint: (saved, position) => {
        run.saved.push(saved);
        saveCheckpoint(runDir, 'pretrain', { model, optimizer, step: saved, stage: 'pretrain', loaderPosition: position, config: {}, splitIds: [] });
      },
      evaluateEvery: 0,
      onStep: (record) => {
        step = record.step;
        run.records.push(record);
        run.states.push(stateBytes(model, optimizer));
      },
      ...(guard === undefined ? {} : { nanGuard: { ...guard, buffers: model.buffers() } }),
    });
  } catch (error) {
    run.error = error;
  } finally {
    await loader.dispose();
    optimizer.dispose();
    model.dispose();
  }
  return run;
}

describe("nanPolicy 'stop' (the default)", () => {
  const cases: [string, Poison, RegExp, number][] = [
    ['a NaN loss at step 3', new Map([[3, 'input']]), /^pretrain: the loss is NaN at step 3; the last good checkpoint \(step 2\) was kept\./, 2],
    // Without clipping, 'stop' checks no gradient per step: the NaN update of step 3 shows as step 4's NaN loss.
    ['a NaN gradient (finite loss) at step 3', new Map([[3, 'gradient']]), /^pretrain: the loss is NaN at step 4; the last good checkpoint \(step 2\) was kept\./, 3],
    // ... and at a checkpoint step, in the weights check before the save: no NaN checkpoint is written.
    ['a NaN gradient (finite loss) at checkpoint step 4', new Map([[4, 'gradient']]),
      /^pretrain: a weight is not finite after step 4 \(a NaN\/Inf gradient since step 2\); the last good checkpoint \(step 2\) was kept, none was written for step 4\./, 4],
  ];
  for (const [title, poison, message, completed] of cases) {
    it(`${title}: NumericalError naming stage and step; checkpoint 2 stays the latest, loads, is finite`, async () => {
      const live = liveTensorCount();
      const run = await runPoisoned(poison, undefined, `stop-${title.replace(/\W+/g, '-')}`);
      assert.ok(run.error instanceof NumericalError, String(run.error));
      assert.match((run.error as Error).message, message);
      assert.deepEqual(run.saved, [2]);
      assert.equal(run.records.length, completed);
      const checkpoint = readCheckpoint(run.runDir, { name: 'pretrain' });
      try {
        assert.equal(checkpoint.meta.step, 2);
        for (const [key, value] of checkpoint.tensors) {
          if (value.dtype === 'float32') assert.ok((value.toTypedArray() as Float32Array).every(Number.isFinite), `${key} is finite`);
        }
      } finally {
        checkpoint.dispose();
      }
      assert.equal(liveTensorCount(), live);
    });
  }
  it('the message of a NaN loss suggests the remedies and --nan-policy skip', async () => {
    const run = await runPoisoned(new Map([[1, 'input']]), undefined, 'stop-first');
    assert.match((run.error as Error).message, /^pretrain: the loss is NaN at step 1; no checkpoint of this stage was written yet\. Lower the learning rate.*--nan-policy skip/);
  });
});

describe("nanPolicy 'skip'", () => {
  it('a NaN loss (NaN pixels, which also poison BatchNorm) and a NaN gradient: those steps change nothing, bit for bit', async () => {
    const live = liveTensorCount();
    const run = await runPoisoned(new Map([[3, 'input'], [6, 'gradient']]), { policy: 'skip', maxSkips: 2 }, 'skip');
    assert.equal(run.error, undefined);
    assert.equal(run.records.length, 8);
    for (const skipped of [3, 6]) {
      assert.deepEqual(run.states[skipped], run.states[skipped - 1], `step ${skipped} left every weight, statistic and momentum buffer as it was`);
    }
    for (const normal of [1, 2, 4, 5, 7, 8]) {
      assert.notDeepEqual(run.states[normal], run.states[normal - 1], `step ${normal} trained`);
      const weights = [...(run.states[normal] as Map<string, string>).keys()];
      assert.ok(weights.includes('1.running_mean') && weights.some((key) => key.startsWith('optim.')), 'BN statistics and momentum are compared');
    }
    assert.deepEqual(run.records.map((record) => record.skipped === true), [false, false, true, false, false, true, false, false]);
    assert.deepEqual(run.records.map((record) => record.skippedSteps ?? 0), [0, 0, 1, 1, 1, 2, 2, 2]);
    assert.ok(Number.isNaN(run.records[2]?.loss));
    assert.deepEqual(run.saved, [2, 4, 6, 8]);
    assert.equal(liveTensorCount(), live);
  });

  it('maxSkips consecutive skipped steps stop the run with NumericalError; the last good checkpoint stays', async () => {
    const run = await runPoisoned(new Map([[3, 'input'], [4, 'gradient']]), { policy: 'skip', maxSkips: 2 }, 'skip-limit');
    assert.ok(run.error instanceof NumericalError, String(run.error));
    assert.match((run.error as Error).message,
      /^pretrain: 2 steps in a row \(up to step 4\) had a non-finite loss or gradient and were skipped \(maxNanSkips = 2\); the last good checkpoint \(step 2\) was kept/);
    assert.deepEqual(run.saved, [2]);
    assert.deepEqual(run.states[4], run.states[2]);
  });
});

describe('nanPolicy through a real run', () => {
  const root = join(folder.path, 'camvid');
  const tiny = () => ['--dataset', 'camvid', '--root', root, '--labelled', '2', '--batch-size', '2', '--crop', '32', '--width', '0.0625',
    '--method', 'ce', '--pretrain-steps', '0', '--finetune-steps', '6', '--checkpoint-every', '1', '--workers', '1', '--threads', '1',
    '--no-test', '--set', 'data.valSplit=null', '--set', 'logEvery=3'];
  async function cli(argv: string[]): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    const code = await runCli(argv, { stdout: () => undefined, stderr: (text) => { stderr += text; } });
    return { code, stderr };
  }

  // lr 1e30: step 1 makes the weights ~1e27, the next forward overflows float32 to Inf/NaN.
  it('--nan-policy stop: exit 8, the message names stage and step, the checkpoint of the last good step loads', async () => {
    await writeCamVidFixture(root, { train: [0, 1, 2].map((i) => fixtureImage(`t${i}`, 40, 30, [0, 3, 5, 8], i)) });
    const runDir = join(folder.path, 'diverged');
    const result = await cli(['train', ...tiny(), '--finetune-lr', '1e30', '--out', runDir]);
    assert.equal(result.code, EXIT_CODES.NUMERIC, result.stderr);
    const match = /finetune: (?:the loss is (?:NaN|Infinity|-Infinity)|a gradient is not finite) at step (\d+); the last good checkpoint \(step (\d+)\) was kept/.exec(result.stderr);
    assert.ok(match !== null, result.stderr);
    const [failedStep, keptStep] = [Number(match[1]), Number(match[2])];
    assert.equal(keptStep, failedStep - 1);
    const checkpoint = readCheckpoint(runDir, { name: 'finetune' });
    checkpoint.dispose();
    assert.equal(checkpoint.meta.step, keptStep);
  });

  it('--nan-policy skip: skipped steps are logged to metrics.jsonl with a running count; maxNanSkips in a row stop it', async () => {
    const runDir = join(folder.path, 'skipping');
    const result = await cli(['train', ...tiny(), '--finetune-lr', '1e30', '--nan-policy', 'skip', '--set', 'maxNanSkips=3', '--out', runDir]);
    assert.equal(result.code, EXIT_CODES.NUMERIC, result.stderr);
    assert.match(result.stderr, /finetune: 3 steps in a row \(up to step \d+\) had a non-finite loss or gradient and were skipped \(maxNanSkips = 3\)/);
    const skipped = readMetrics(runDir).filter((record) => record.skipped === true);
    assert.deepEqual(skipped.map((record) => record.skippedSteps), [1, 2, 3]);
    const steps = skipped.map((record) => record.step);
    assert.deepEqual(steps, [steps[0], (steps[0] as number) + 1, (steps[0] as number) + 2], 'consecutive steps, each logged although logEvery = 3');
  });
});
