/**
 * One rank of the distributed tests (process-group.test.ts, data-parallel.test.ts): run as
 * `node --import tsx src/distributed/testing-rank.ts <scenario>` with torchrun's variables set, prints one
 * JSON line with what it saw. Not a test itself; never imported by library code.
 */
import { initProcessGroup, averageGradients, broadcastFromRoot, syncBatchNorm, type Distributed } from './index.js';
import { tensor, scope, optim, crossEntropy, liveTensorCount } from '../torch/index.js';
import type { ProcessGroup } from './process-group.js';
import { ContrasegError, DistributedError } from '../errors.js';
import { dataParallelProblem, problemForward as forward } from './testing-problem.js';

const timeoutMs = Number(process.env.TEST_TIMEOUT_MS ?? 5000);

function report(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function describe(error: unknown): Record<string, unknown> {
  if (error instanceof ContrasegError) {
    return { name: error.name, code: error.code, kind: error instanceof DistributedError ? error.kind : undefined, message: error.message };
  }
  return { name: 'other', message: String(error) };
}

function collectives({ group }: Distributed): unknown {
  const rank = group.rank;
  const values = tensor([rank + 1, 10 * (rank + 1), -rank], [3]); // float32
  const counts = tensor([rank + 1], [1], { dtype: 'int64' });
  group.allReduce([values, counts], 'sum');
  const averaged = tensor([rank, 2 * rank], [2], { dtype: 'float64' });
  group.allReduce(averaged, 'avg');
  const maxed = tensor([rank, -rank], [2]);
  group.allReduce(maxed, 'max');
  const broadcast = tensor([rank + 100], [1]);
  group.broadcast(broadcast, 1);
  const gathered = group.allGather(tensor([rank * 7, rank * 7 + 1], [2]));
  group.barrier();
  return {
    leaked: leakedByCollectives(group),
    sum: values.toArray(), count: counts.toArray(), avg: averaged.toArray(), max: maxed.toArray(),
    broadcast: broadcast.toArray(), gathered: gathered.map((part) => part.toArray()),
  };
}

/** Handles left behind by the tensor APIs of a group (collectives, gradient averaging, sync BN), in a scope. */
function leakedByCollectives(group: ProcessGroup): number {
  const before = liveTensorCount();
  const weight = tensor([1, 2], [2]).setRequiresGrad(true);
  scope(() => {
    const input = tensor(Float32Array.from({ length: 16 }, (_, i) => i * (group.rank + 1)), [2, 2, 2, 2]);
    group.allReduce([input, tensor([1], [1], { dtype: 'int64' })], 'sum');
    group.allReduce(input, 'avg');
    group.broadcast(input, 0);
    for (const part of group.allGather(input)) part.dispose();
    const output = syncBatchNorm(group, input, { weight, bias: null, runningMean: null, runningVar: null, momentum: 0.1, eps: 1e-5, training: true });
    output.sum().backward();
    averageGradients(group, [weight]);
  });
  weight.dispose();
  return liveTensorCount() - before;
}

function failAfterBarrier({ group }: Distributed, how: 'die' | 'stall'): unknown {
  group.barrier();
  if (group.rank === 1) {
    if (how === 'die') process.exit(9);
    const until = Date.now() + 4 * timeoutMs;
    while (Date.now() < until) { /* busy: never reaches the collective */ }
    return { stalled: true };
  }
  const start = Date.now();
  try {
    group.allReduce(tensor([1, 2], [2]), 'sum');
    return { error: null, elapsedMs: Date.now() - start };
  } catch (error) {
    return { error: describe(error), elapsedMs: Date.now() - start };
  }
}

/** Steps of data-parallel SGD on this rank's half of the problem's global batch; parameters after each. */
function train({ group }: Distributed, average: boolean): unknown {
  const problem = dataParallelProblem(group.rank === 0 ? 0 : 0.5); // rank 1 starts elsewhere: the broadcast must fix it
  const parameters = Object.values(problem.params);
  broadcastFromRoot(group, parameters);
  const sgd = new optim.SGD(parameters, { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const perRank = problem.batch / group.worldSize;
  const steps: number[][][] = [];
  for (let step = 0; step < problem.steps; step++) {
    scope(() => {
      const images = problem.images(step).slice(0, group.rank * perRank, (group.rank + 1) * perRank);
      const labels = problem.labels(step).slice(0, group.rank * perRank, (group.rank + 1) * perRank);
      const loss = crossEntropy(forward(problem, images), labels);
      sgd.zeroGrad();
      loss.backward();
      if (average) averageGradients(group, parameters, { bucketBytes: 256 }); // small buckets: several per step
      sgd.step();
    });
    steps.push(parameters.map((parameter) => parameter.toArray()));
  }
  return { steps };
}

/** Sync BN forward + backward on this rank's half; output, input gradient, affine gradients, running stats. */
function syncBn({ group }: Distributed): unknown {
  const problem = dataParallelProblem(0);
  const perRank = problem.batch / group.worldSize;
  const input = problem.images(0).slice(0, group.rank * perRank, (group.rank + 1) * perRank).mul(3).add(5).detach().setRequiresGrad(true);
  const weight = problem.params.gamma.slice(0, 0, 3).detach().setRequiresGrad(true);
  const bias = problem.params.beta.slice(0, 0, 3).detach().setRequiresGrad(true);
  const runningMean = tensor([0.1, 0.2, 0.3], [3], { dtype: 'float64' });
  const runningVar = tensor([1, 2, 3], [3], { dtype: 'float64' });
  const output = syncBatchNorm(group, input, { weight, bias, runningMean, runningVar, momentum: 0.1, eps: 1e-5, training: true });
  // A loss that weights every element differently, so the gradient is not trivially zero.
  const loss = output.mul(problem.images(1).slice(0, group.rank * perRank, (group.rank + 1) * perRank)).sum();
  loss.backward();
  return {
    output: output.toArray(), inputGrad: input.grad?.toArray(), weightGrad: weight.grad?.toArray(), biasGrad: bias.grad?.toArray(),
    runningMean: runningMean.toArray(), runningVar: runningVar.toArray(),
  };
}

function run(scenario: string): unknown {
  let joined: Distributed;
  try {
    joined = initProcessGroup({ timeoutMs, threads: 1 });
  } catch (error) {
    return { initError: describe(error) };
  }
  const result = dispatch(scenario, joined);
  joined.group.destroy();
  return result;
}

function dispatch(scenario: string, joined: Distributed): unknown {
  switch (scenario) {
    case 'collectives': return collectives(joined);
    case 'die': return failAfterBarrier(joined, 'die');
    case 'stall': return failAfterBarrier(joined, 'stall');
    case 'train': return train(joined, true);
    case 'train-no-average': return train(joined, false);
    case 'syncbn': return syncBn(joined);
    case 'init': return { rank: joined.group.rank, worldSize: joined.group.worldSize };
    default: throw new Error(`unknown scenario ${scenario}`);
  }
}

report(run(process.argv[2] ?? ''));
