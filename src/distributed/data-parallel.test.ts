import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scope, optim, crossEntropy, batchNorm, tensor, liveTensorCount } from '../torch/index.js';
import { ConfigError } from '../errors.js';
import { dataParallelProblem, problemForward } from './testing-problem.js';
import { freePort, launchRanks, localRanks, type RankOutcome } from './testing-launch.js';
import { planBuckets } from './gradients.js';
import { shardBatch, shardEpochOrder } from './sharding.js';

// The oracle of data parallelism is one process on the combined batch (computed here, in this process).
// The problem is float64 (testing-problem.ts): both runs sum the same terms in different orders, each
// sum of n <= 4 * 64 * 27 terms off by at most n * 2^-53 ~ 1e-12 relative; over 4 steps of a 2-layer
// network that stays below 1e-10, so 1e-6 relative (the bound) is crossed only by a semantic
// error. The control run without averaging shows the comparison can fail.

const RELATIVE = 1e-6;

function maxRelativeDifference(actual: number[], expected: number[]): number {
  const scale = Math.max(...expected.map(Math.abs), 1e-12);
  return Math.max(...actual.map((value, i) => Math.abs(value - (expected[i] as number)))) / scale;
}

function singleProcessSteps(): number[][][] {
  const problem = dataParallelProblem(0);
  const parameters = Object.values(problem.params);
  const sgd = new optim.SGD(parameters, { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const steps: number[][][] = [];
  for (let step = 0; step < problem.steps; step++) {
    scope(() => {
      const loss = crossEntropy(problemForward(problem, problem.images(step)), problem.labels(step));
      sgd.zeroGrad();
      loss.backward();
      sgd.step();
    });
    steps.push(parameters.map((parameter) => parameter.toArray()));
  }
  return steps;
}

function stepsOf(outcome: RankOutcome | undefined): number[][][] {
  assert.ok(outcome !== undefined && outcome.report !== null, `no report: ${outcome?.stderr}`);
  assert.equal(outcome.killedByHardTimeout, false);
  return outcome.report.steps as number[][][];
}

test('2 ranks x half batch: after every step identical parameters on both ranks, equal to 1 process on the whole batch', { timeout: 120_000 }, async () => {
  const [rank0, rank1] = await launchRanks({ scenario: 'train', ranks: localRanks(await freePort(), 2), timeoutMs: 30_000, hardTimeoutMs: 100_000 });
  const steps0 = stepsOf(rank0);
  const steps1 = stepsOf(rank1);
  const reference = singleProcessSteps();
  assert.equal(steps0.length, 4);
  steps0.forEach((parameters, step) => {
    // Bitwise: both ranks apply the same all-reduced buffer to the same broadcast start.
    assert.deepEqual(steps1[step], parameters, `step ${step}: ranks differ`);
    parameters.forEach((values, index) => {
      const difference = maxRelativeDifference(values, reference[step]?.[index] as number[]);
      assert.ok(difference <= RELATIVE, `step ${step}, parameter ${index}: relative difference ${difference}`);
    });
  });
});

test('control: without gradient averaging the ranks drift apart and away from the single process', { timeout: 120_000 }, async () => {
  const [rank0, rank1] = await launchRanks({ scenario: 'train-no-average', ranks: localRanks(await freePort(), 2), timeoutMs: 30_000, hardTimeoutMs: 100_000 });
  const last0 = stepsOf(rank0).at(-1) as number[][];
  const last1 = stepsOf(rank1).at(-1) as number[][];
  const reference = singleProcessSteps().at(-1) as number[][];
  assert.ok(maxRelativeDifference(last1[0] as number[], last0[0] as number[]) > 1e-4);
  assert.ok(maxRelativeDifference(last0[0] as number[], reference[0] as number[]) > 1e-4);
});

test('syncBatchNorm on 2 ranks equals training-mode batchNorm on the combined batch: output, gradients, running stats', { timeout: 120_000 }, async () => {
  const outcomes = await launchRanks({ scenario: 'syncbn', ranks: localRanks(await freePort(), 2), timeoutMs: 30_000, hardTimeoutMs: 100_000 });
  const reports = outcomes.map((outcome) => {
    assert.ok(outcome.report !== null, outcome.stderr);
    return outcome.report as Record<string, number[]>;
  });
  // Reference: libtorch's own batch_norm (one process, whole batch) with the same inputs and loss.
  const problem = dataParallelProblem(0);
  const expected = scope(() => {
    const input = problem.images(0).mul(3).add(5).detach().setRequiresGrad(true);
    const weight = problem.params.gamma.slice(0, 0, 3).detach().setRequiresGrad(true);
    const bias = problem.params.beta.slice(0, 0, 3).detach().setRequiresGrad(true);
    const runningMean = tensor([0.1, 0.2, 0.3], [3], { dtype: 'float64' });
    const runningVar = tensor([1, 2, 3], [3], { dtype: 'float64' });
    const output = batchNorm(input, { weight, bias, runningMean, runningVar, training: true, momentum: 0.1, eps: 1e-5 });
    output.mul(problem.images(1)).sum().backward();
    return {
      output: output.toArray(), inputGrad: input.grad?.toArray() ?? [], weightGrad: weight.grad?.toArray() ?? [],
      biasGrad: bias.grad?.toArray() ?? [], runningMean: runningMean.toArray(), runningVar: runningVar.toArray(),
    };
  });
  const half = expected.output.length / 2;
  const [first, second] = reports as [Record<string, number[]>, Record<string, number[]>];
  const joined = (key: string) => [...(first[key] as number[]), ...(second[key] as number[])];
  for (const key of ['output', 'inputGrad']) {
    assert.equal(joined(key).length, 2 * half);
    assert.ok(maxRelativeDifference(joined(key), expected[key as 'output']) <= RELATIVE, `${key}`);
  }
  for (const key of ['weightGrad', 'biasGrad']) {
    // Affine gradients stay per rank (as torch.nn.SyncBatchNorm's; the gradient all-reduce combines them):
    // this loss is a sum, so the ranks' gradients add up to the whole batch's.
    const summed = (first[key] as number[]).map((value, i) => value + ((second[key] as number[])[i] as number));
    assert.ok(maxRelativeDifference(summed, expected[key as 'output']) <= RELATIVE, `${key}: ${summed} vs ${expected[key as 'output']}`);
  }
  for (const key of ['runningMean', 'runningVar']) {
    for (const report of reports) {
      assert.ok(maxRelativeDifference(report[key] as number[], expected[key as 'output']) <= RELATIVE, `${key}: ${report[key]} vs ${expected[key as 'output']}`);
    }
  }
});

test('planBuckets: consecutive, capped by bytes, an oversized tensor alone', () => {
  const before = liveTensorCount();
  scope(() => {
    const tensors = [[10], [10], [100], [5], [5], [5]].map((shape) => tensor(new Float32Array(shape[0] as number), shape));
    assert.deepEqual(planBuckets(tensors, 80), [[0, 1], [2], [3, 4, 5]]); // 40 + 40 | 400 | 20 + 20 + 20
    assert.deepEqual(planBuckets(tensors, 1 << 20), [[0, 1, 2, 3, 4, 5]]);
  });
  assert.equal(liveTensorCount(), before);
});

test('shardEpochOrder: DistributedSampler\'s padding and stride; shardBatch: contiguous slices', () => {
  const order = [7, 3, 9, 1, 4];
  assert.deepEqual(shardEpochOrder(order, 0, 2), [7, 9, 4]);
  assert.deepEqual(shardEpochOrder(order, 1, 2), [3, 1, 7]); // padded with the order's first element
  const union = new Set([...shardEpochOrder(order, 0, 3), ...shardEpochOrder(order, 1, 3), ...shardEpochOrder(order, 2, 3)]);
  assert.deepEqual([...union].sort(), [...order].sort());
  assert.deepEqual(shardBatch([1, 2, 3, 4, 5, 6], 1, 3), [3, 4]);
  assert.throws(() => shardBatch([1, 2, 3], 0, 2), (error: unknown) => error instanceof ConfigError && /batch of 3 does not split into 2/.test(error.message));
  assert.throws(() => shardEpochOrder(order, 2, 2), ConfigError);
});
