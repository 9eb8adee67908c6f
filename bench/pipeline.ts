/**
 * npm run bench -- pipeline [steps=20] [warmup=3]: seconds per step of `contraseg pretrain` and
 * `contraseg finetune` on the bundled CamVid (loader, augmentation, distortions, logging and
 * checkpointing every 10 steps included) against bench/pipeline_torch.py (torch DataLoader with workers,
 * torchvision transforms, the same network, loss and optimiser), same threads, same run, in blocks
 * ordered contraseg, PyTorch, PyTorch, contraseg. Also the pipeline's overhead over the bare training
 * step (the same step on a fixed batch, in this process). Last line: one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sharedDataFolder } from '../src/data/fixtures.js';
import { randn, randint, manualSeed } from '../src/torch/creation.js';
import { scope, setNumThreads } from '../src/torch/scope.js';
import { parseRunConfig } from '../src/train/config.js';
import { buildOptimizer } from '../src/train/build.js';
import { buildFinetuneModel, finetuneLoss } from '../src/train/finetune.js';
import { PretrainModel, pretrainLoss } from '../src/train/pretrain.js';
import { preset } from '../src/train/presets.js';
import { readMetrics } from '../src/train/run-dir.js';
import { pythonExecutable, requirePytorchReference } from './lib/pytorch-reference.js';

requirePytorchReference(['torch', 'torchvision']);
const steps = Number(process.argv[2] ?? 20);
const warmup = Number(process.argv[3] ?? 3);
const THREADS = 2;
const root = sharedDataFolder('camvid_180x240');
if (root === undefined) {
  console.error('bench pipeline: camvid_180x240 not found in ../shared/data (set CONTRASEG_DATA to the folder holding it)');
  process.exit(2);
}
const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '..', 'src', 'cli', 'main.ts');

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/** Per-step seconds of a stage from metrics.jsonl (logEvery 1), warm-up steps dropped. */
function stepSeconds(runDir: string, stage: string): number[] {
  const records = readMetrics(runDir).filter((record) => record.kind === 'step' && record.stage === stage);
  const times = records.map((record) => record.seconds as number);
  return times.slice(1).map((t, i) => t - (times[i] as number)).slice(warmup - 1);
}

function run(args: string[]): void {
  const result = spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8', env: { ...process.env, CONTRASEG_NUM_THREADS: String(THREADS) } });
  if (result.status !== 0) throw new Error(`contraseg ${args[0]} failed:\n${result.stderr}`);
}

const common = ['--root', root, '--threads', String(THREADS), '--checkpoint-every', '10', '--set', 'logEvery=1', '--set', 'data.valSplit=null', '--no-test'];

function contrasegBlock(): { pretrain: number; finetune: number } {
  const dir = mkdtempSync(join(tmpdir(), 'contraseg-bench-pipeline-'));
  try {
    run(['pretrain', '--preset', 'camvid-quick', ...common, '--pretrain-steps', String(steps + warmup), '--out', join(dir, 'stage1')]);
    run(['finetune', '--from', join(dir, 'stage1'), ...common, '--finetune-steps', String(steps + warmup), '--out', join(dir, 'stage2')]);
    return { pretrain: median(stepSeconds(join(dir, 'stage1'), 'pretrain')), finetune: median(stepSeconds(join(dir, 'stage2'), 'finetune')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function torchBlock(): { pretrain: number; finetune: number } {
  const result = spawnSync(pythonExecutable(), [join(here, 'pipeline_torch.py'), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(THREADS), '--data', root as string],
    { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`pipeline_torch.py failed:\n${result.stderr}`);
  const figures = JSON.parse(result.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
  const pick = (stage: string): number => {
    const value = figures[stage] as Record<string, number> | undefined;
    const seconds = value?.step_s;
    if (typeof seconds !== 'number') throw new Error(`pipeline_torch.py printed no median for ${stage}: ${JSON.stringify(figures[stage])}`);
    return seconds;
  };
  return { pretrain: pick('pretrain'), finetune: pick('finetune') };
}

/** The bare training step of each stage on one fixed batch: no loader, no logging, no checkpoints. */
function bareSteps(): { pretrain: number; finetune: number } {
  setNumThreads(THREADS);
  const config = parseRunConfig({ ...preset('camvid-quick'), data: { kind: 'camvid', root } });
  manualSeed(0);
  const images = randn([8, 3, 128, 128]);
  const distorted = randn([8, 3, 128, 128]);
  const labels = randint(0, 11, [8, 128, 128]);
  const time = (step: () => void): number => {
    const seconds: number[] = [];
    for (let i = 0; i < steps + warmup; i++) {
      const start = performance.now();
      scope(step);
      if (i >= warmup) seconds.push((performance.now() - start) / 1000);
    }
    return median(seconds);
  };
  const stage1 = new PretrainModel(config, 11);
  const sgd1 = buildOptimizer(config.pretrain.optimizer, stage1);
  const batch = { ids: [], images, distorted, labels, dispose: () => undefined };
  const pretrain = time(() => { const loss = pretrainLoss(stage1, batch, config.pretrain); sgd1.zeroGrad(); loss.backward(); sgd1.step(); });
  const stage2 = buildFinetuneModel(config, 11);
  const sgd2 = buildOptimizer(config.finetune.optimizer, stage2);
  const finetune = time(() => { const loss = finetuneLoss(stage2, batch, null); sgd2.zeroGrad(); loss.backward(); sgd2.step(); });
  for (const item of [stage1, stage2, sgd1, sgd2, images, distorted, labels]) item.dispose();
  return { pretrain, finetune };
}

const bare = bareSteps();
const blocks = [contrasegBlock(), torchBlock(), torchBlock(), contrasegBlock()];
const ours = { pretrain: median([blocks[0]!.pretrain, blocks[3]!.pretrain]), finetune: median([blocks[0]!.finetune, blocks[3]!.finetune]) };
const theirs = { pretrain: median([blocks[1]!.pretrain, blocks[2]!.pretrain]), finetune: median([blocks[1]!.finetune, blocks[2]!.finetune]) };
for (const stage of ['pretrain', 'finetune'] as const) {
  console.log(`${stage}: contraseg ${ours[stage].toFixed(3)} s/step, PyTorch ${theirs[stage].toFixed(3)} s/step, ratio ${(ours[stage] / theirs[stage]).toFixed(3)}; ` +
    `bare step ${bare[stage].toFixed(3)} s, pipeline overhead ${(100 * (ours[stage] / bare[stage] - 1)).toFixed(1)}%`);
}
console.log(JSON.stringify({
  bench: 'pipeline', steps, warmup, threads: THREADS,
  pretrain: { contrasegSeconds: ours.pretrain, pytorchSeconds: theirs.pretrain, ratio: ours.pretrain / theirs.pretrain, bareSeconds: bare.pretrain, overhead: ours.pretrain / bare.pretrain - 1 },
  finetune: { contrasegSeconds: ours.finetune, pytorchSeconds: theirs.finetune, ratio: ours.finetune / theirs.finetune, bareSeconds: bare.finetune, overhead: ours.finetune / bare.finetune - 1 },
  ratio: Math.max(ours.pretrain / theirs.pretrain, ours.finetune / theirs.finetune),
}));
