/**
 * npm run bench -- pipeline [steps=20] [warmup=3]: seconds per step of `contraseg pretrain` and
 * `contraseg finetune` on the bundled CamVid (loader, augmentation, distortions, a metrics line per step
 * and a checkpoint every 10 steps included) against bench/pipeline_torch.py (torch DataLoader, torchvision
 * transforms, the same network, loss, optimiser, schedule, metrics line and durable checkpoints), 2
 * threads and 1 loader worker each, same run, in blocks ordered contraseg, PyTorch, PyTorch, contraseg.
 * Seconds per step are the mean over the timed steps (the steps that write a checkpoint count: the issue
 * asks for steps per second with checkpointing included; a median would drop them), the medians are
 * printed beside. Also the pipeline's overhead over the bare training step (the same step on a fixed
 * batch, in this process). Last line: one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
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
const WORKERS = 1; // PyTorch's DataLoader gets the same; contraseg's default would be min(4, cores - 1)
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

const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;

/** Mean and median of per-step seconds. */
interface StepFigures {
  readonly mean: number;
  readonly median: number;
}
const figuresOf = (values: number[]): StepFigures => ({ mean: mean(values), median: median(values) });

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

const common = ['--root', root, '--threads', String(THREADS), '--workers', String(WORKERS), '--checkpoint-every', '10', '--set', 'logEvery=1', '--set', 'data.valSplit=null', '--no-test'];

interface Block {
  readonly pretrain: StepFigures;
  readonly finetune: StepFigures;
}

/** The labelled ids of contraseg's first block (its split.txt), which PyTorch's blocks then train on. */
let labelledIdsFile: string | undefined;
const idsFolder = mkdtempSync(join(tmpdir(), 'contraseg-bench-ids-'));
process.on('exit', () => rmSync(idsFolder, { recursive: true, force: true }));

function contrasegBlock(): Block {
  const dir = mkdtempSync(join(tmpdir(), 'contraseg-bench-pipeline-'));
  try {
    run(['pretrain', '--preset', 'camvid-quick', ...common, '--pretrain-steps', String(steps + warmup), '--out', join(dir, 'stage1')]);
    run(['finetune', '--from', join(dir, 'stage1'), ...common, '--finetune-steps', String(steps + warmup), '--out', join(dir, 'stage2')]);
    if (labelledIdsFile === undefined) {
      labelledIdsFile = join(idsFolder, 'split.txt');
      copyFileSync(join(dir, 'stage1', 'split.txt'), labelledIdsFile);
    }
    return { pretrain: figuresOf(stepSeconds(join(dir, 'stage1'), 'pretrain')), finetune: figuresOf(stepSeconds(join(dir, 'stage2'), 'finetune')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function torchBlock(): Block {
  const result = spawnSync(pythonExecutable(), [join(here, 'pipeline_torch.py'), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(THREADS),
    '--workers', String(WORKERS), '--checkpoint-every', '10', '--data', root as string, ...(labelledIdsFile === undefined ? [] : ['--labelled-ids', labelledIdsFile])],
    { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`pipeline_torch.py failed:\n${result.stderr}`);
  const figures = JSON.parse(result.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
  const pick = (stage: string): StepFigures => {
    const value = figures[stage] as Record<string, number> | undefined;
    if (typeof value?.mean_step_s !== 'number' || typeof value.step_s !== 'number') {
      throw new Error(`pipeline_torch.py printed no mean or median for ${stage}: ${JSON.stringify(figures[stage])}`);
    }
    return { mean: value.mean_step_s, median: value.step_s };
  };
  return { pretrain: pick('pretrain'), finetune: pick('finetune') };
}

/** The bare training step of each stage on one fixed batch: no loader, no logging, no checkpoints. */
function bareSteps(): Block {
  setNumThreads(THREADS);
  const config = parseRunConfig({ ...preset('camvid-quick'), data: { kind: 'camvid', root } });
  manualSeed(0);
  const images = randn([8, 3, 128, 128]);
  const distorted = randn([8, 3, 128, 128]);
  const labels = randint(0, 11, [8, 128, 128]);
  const time = (step: () => void): StepFigures => {
    const seconds: number[] = [];
    for (let i = 0; i < steps + warmup; i++) {
      const start = performance.now();
      scope(step);
      if (i >= warmup) seconds.push((performance.now() - start) / 1000);
    }
    return figuresOf(seconds);
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
const blocks = [contrasegBlock(), torchBlock(), torchBlock(), contrasegBlock()] as const;
type Stage = 'pretrain' | 'finetune';
/** The median of the two blocks of a side (= their mean) for one statistic. */
const pair = (first: Block, second: Block, stage: Stage, statistic: keyof StepFigures): number => median([first[stage][statistic], second[stage][statistic]]);
const row = (stage: Stage) => {
  const ours = { mean: pair(blocks[0], blocks[3], stage, 'mean'), median: pair(blocks[0], blocks[3], stage, 'median') };
  const theirs = { mean: pair(blocks[1], blocks[2], stage, 'mean'), median: pair(blocks[1], blocks[2], stage, 'median') };
  return {
    contrasegSeconds: ours.mean, pytorchSeconds: theirs.mean, ratio: ours.mean / theirs.mean, bareSeconds: bare[stage].mean, overhead: ours.mean / bare[stage].mean - 1,
    contrasegMedianSeconds: ours.median, pytorchMedianSeconds: theirs.median, medianRatio: ours.median / theirs.median, bareMedianSeconds: bare[stage].median,
  };
};
const rows = { pretrain: row('pretrain'), finetune: row('finetune') };
for (const stage of ['pretrain', 'finetune'] as const) {
  const r = rows[stage];
  console.log(`${stage}: contraseg ${r.contrasegSeconds.toFixed(3)} s/step, PyTorch ${r.pytorchSeconds.toFixed(3)} s/step, ratio ${r.ratio.toFixed(3)} (means); ` +
    `medians ${r.contrasegMedianSeconds.toFixed(3)} / ${r.pytorchMedianSeconds.toFixed(3)}, ratio ${r.medianRatio.toFixed(3)}; ` +
    `bare step ${r.bareSeconds.toFixed(3)} s, pipeline overhead ${(100 * r.overhead).toFixed(1)}%`);
}
console.log(JSON.stringify({
  bench: 'pipeline', steps, warmup, threads: THREADS, workers: WORKERS, statistic: 'mean',
  pretrain: rows.pretrain, finetune: rows.finetune, ratio: Math.max(rows.pretrain.ratio, rows.finetune.ratio),
}));
