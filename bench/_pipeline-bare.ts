/**
 * Helper of bench/pipeline.ts (not a benchmark of its own): `node --import tsx bench/_pipeline-bare.ts
 * <pretrain|finetune> <steps> <warmup> <root>` times the bare training step of one stage on one fixed
 * batch (no loader, no logging, no checkpoints) in a fresh process, so that pipeline.ts can measure it right
 * before each pipelined block: the machine's speed drifts by several percent over minutes, and a bare step
 * timed once at the start is then compared with blocks run in a different state. Last line: {mean, median} s.
 */
import { manualSeed, randint, randn } from '../src/torch/creation.js';
import { scope, setNumThreads } from '../src/torch/scope.js';
import { buildOptimizer } from '../src/train/build.js';
import { parseRunConfig } from '../src/train/config.js';
import { buildFinetuneModel, finetuneLoss } from '../src/train/finetune.js';
import { PretrainModel, pretrainLoss } from '../src/train/pretrain.js';
import { preset } from '../src/train/presets.js';
import { mean, median } from './lib/paired.js';

const [stage, stepsArg, warmupArg, root, threadsArg] = process.argv.slice(2);
if ((stage !== 'pretrain' && stage !== 'finetune') || root === undefined) {
  console.error('usage: _pipeline-bare.ts <pretrain|finetune> <steps> <warmup> <camvid root> [threads=2]');
  process.exit(2);
}
const steps = Number(stepsArg);
const warmup = Number(warmupArg);
setNumThreads(Number(threadsArg ?? 2));
const config = parseRunConfig({ ...preset('camvid-quick'), data: { kind: 'camvid', root } });
manualSeed(0);
const images = randn([8, 3, 128, 128]);
const distorted = randn([8, 3, 128, 128]);
const labels = randint(0, 11, [8, 128, 128]);
const batch = { ids: [], images, distorted, labels, dispose: () => undefined };
const model = stage === 'pretrain' ? new PretrainModel(config, 11) : buildFinetuneModel(config, 11);
const sgd = buildOptimizer(stage === 'pretrain' ? config.pretrain.optimizer : config.finetune.optimizer, model);
const lossOf = model instanceof PretrainModel ? () => pretrainLoss(model, batch, config.pretrain) : () => finetuneLoss(model, batch, null);
const seconds: number[] = [];
for (let i = 0; i < steps + warmup; i++) {
  const start = performance.now();
  scope(() => { const loss = lossOf(); sgd.zeroGrad(); loss.backward(); sgd.step(); });
  if (i >= warmup) seconds.push((performance.now() - start) / 1000);
}
for (const item of [model, sgd, images, distorted, labels]) item.dispose();
console.log(JSON.stringify({ mean: mean(seconds), median: median(seconds) }));
