/**
 * npm run bench -- pipeline [steps=20] [warmup=3]: seconds per step of `contraseg pretrain` and
 * `contraseg finetune` on the bundled CamVid (loader, augmentation, distortions, a metrics line per step
 * and a checkpoint every 10 steps included) against bench/pipeline_torch.py (torch DataLoader, torchvision
 * transforms, the same network, loss, optimiser, schedule, metrics line and durable checkpoints), 2
 * threads and 1 loader worker each, same run, in blocks ordered contraseg, PyTorch, PyTorch, contraseg.
 * Seconds per step are the mean over the timed steps (the steps that write a checkpoint count: the issue
 * asks for steps per second with checkpointing included; a median would drop them), the medians are
 * printed beside. Also the pipeline's overhead over the bare training step (the same step on a fixed
 * batch, bench/_pipeline-bare.ts in a fresh process, timed right before each contraseg stage, since this
 * machine's speed drifts by several percent within minutes): per block, then their mean. For context,
 * PyTorch's pipeline over its own bare step (pipeline_torch.py --bare before each PyTorch block). Last
 * line: one JSON object. `npm run bench -- pipeline 30 3 compare-writes` also times contraseg with
 * `--checkpoint-writes background` in the same run (the default, and the headline, is sync).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sharedDataFolder } from '../src/data/fixtures.js';
import { readMetrics } from '../src/train/run-dir.js';
import { mean, median } from './lib/paired.js';
import { pythonExecutable, requirePytorchReference } from './lib/pytorch-reference.js';

requirePytorchReference(['torch', 'torchvision']);
const steps = Number(process.argv[2] ?? 20);
const warmup = Number(process.argv[3] ?? 3);
/** The write mode timed as the headline (contraseg's default) and, with `compare-writes`, the other one. */
const HEADLINE_WRITES = 'sync';
const OTHER_WRITES = 'background';
/** A third argument `compare-writes` adds contraseg blocks with `--checkpoint-writes background` (the default is sync). */
const compareWrites = process.argv[4] === 'compare-writes';
if (process.argv[4] !== undefined && !compareWrites) {
  console.error(`bench pipeline: unknown third argument '${process.argv[4]}' (expected compare-writes or nothing)`);
  process.exit(2);
}
const THREADS = 2;
const WORKERS = 1; // PyTorch's DataLoader gets the same; contraseg's default would be min(4, cores - 1)
const root = sharedDataFolder('camvid_180x240');
if (root === undefined) {
  console.error('bench pipeline: camvid_180x240 not found in ../shared/data (set CONTRASEG_DATA to the folder holding it)');
  process.exit(2);
}
const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '..', 'src', 'cli', 'main.ts');

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

type Stage = 'pretrain' | 'finetune';

interface Block {
  readonly pretrain: StepFigures;
  readonly finetune: StepFigures;
}

/** The labelled ids of contraseg's first block (its split.txt), which PyTorch's blocks then train on. */
let labelledIdsFile: string | undefined;
const idsFolder = mkdtempSync(join(tmpdir(), 'contraseg-bench-ids-'));
process.on('exit', () => rmSync(idsFolder, { recursive: true, force: true }));

/** The bare step of a stage (bench/_pipeline-bare.ts) in a fresh process, timed now. */
function bareStep(stage: Stage): StepFigures {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(here, '_pipeline-bare.ts'), stage, String(steps), String(warmup), root as string, String(THREADS)],
    { encoding: 'utf8', env: { ...process.env, CONTRASEG_NUM_THREADS: String(THREADS) } });
  if (result.status !== 0) throw new Error(`_pipeline-bare.ts ${stage} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop() as string) as StepFigures;
}

/** A contraseg block: each stage's bare step timed right before the stage's pipelined run. */
function contrasegBlock(writes: 'sync' | 'background' = HEADLINE_WRITES): Block & { bare: Record<Stage, StepFigures> } {
  const dir = mkdtempSync(join(tmpdir(), 'contraseg-bench-pipeline-'));
  const flags = [...common, '--checkpoint-writes', writes];
  try {
    const barePretrain = bareStep('pretrain');
    run(['pretrain', '--preset', 'camvid-quick', ...flags, '--pretrain-steps', String(steps + warmup), '--out', join(dir, 'stage1')]);
    const bareFinetune = bareStep('finetune');
    run(['finetune', '--from', join(dir, 'stage1'), ...flags, '--finetune-steps', String(steps + warmup), '--out', join(dir, 'stage2')]);
    if (labelledIdsFile === undefined) {
      labelledIdsFile = join(idsFolder, 'split.txt');
      copyFileSync(join(dir, 'stage1', 'split.txt'), labelledIdsFile);
    }
    return {
      pretrain: figuresOf(stepSeconds(join(dir, 'stage1'), 'pretrain')), finetune: figuresOf(stepSeconds(join(dir, 'stage2'), 'finetune')),
      bare: { pretrain: barePretrain, finetune: bareFinetune },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A PyTorch block: bench/pipeline_torch.py's pipelined stages, or (bare) its step on one fixed batch. */
function torchBlock(bare = false): Block {
  const result = spawnSync(pythonExecutable(), [join(here, 'pipeline_torch.py'), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(THREADS),
    '--workers', String(WORKERS), '--checkpoint-every', '10', '--data', root as string, ...(labelledIdsFile === undefined ? [] : ['--labelled-ids', labelledIdsFile]),
    ...(bare ? ['--bare'] : [])],
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

// Order: contraseg, PyTorch, PyTorch, contraseg; each pipelined block preceded by its side's bare step. With
// compare-writes: contraseg, contraseg background, PyTorch, PyTorch, contraseg background, contraseg.
const first = contrasegBlock();
const otherFirst = compareWrites ? contrasegBlock(OTHER_WRITES) : undefined;
const torchBare1 = torchBlock(true);
const torch1 = torchBlock();
const torchBare2 = torchBlock(true);
const torch2 = torchBlock();
const otherLast = compareWrites ? contrasegBlock(OTHER_WRITES) : undefined;
const last = contrasegBlock();
/** The median of the two blocks of a side (= their mean) for one statistic. */
const pair = (one: Block, two: Block, stage: Stage, statistic: keyof StepFigures): number => median([one[stage][statistic], two[stage][statistic]]);
/** A pipelined block's mean step over the bare step timed just before it, minus 1. */
const overheadOf = (piped: Block, bareBlock: Block, stage: Stage): number => piped[stage].mean / bareBlock[stage].mean - 1;
const percents = (values: number[]): string => values.map((value) => `${(100 * value).toFixed(1)}%`).join(', ');
const row = (stage: Stage) => {
  const ours = { mean: pair(first, last, stage, 'mean'), median: pair(first, last, stage, 'median') };
  const theirs = { mean: pair(torch1, torch2, stage, 'mean'), median: pair(torch1, torch2, stage, 'median') };
  const bare = { mean: pair(first.bare, last.bare, stage, 'mean'), median: pair(first.bare, last.bare, stage, 'median') };
  // The overhead of each contraseg block over the bare step timed just before it, then their mean.
  const overheads = [first, last].map((block) => overheadOf(block, block.bare, stage));
  // For context (no target): PyTorch's pipeline over its own bare step, the same way.
  const pytorchOverheads = [overheadOf(torch1, torchBare1, stage), overheadOf(torch2, torchBare2, stage)];
  return {
    contrasegSeconds: ours.mean, pytorchSeconds: theirs.mean, ratio: ours.mean / theirs.mean, bareSeconds: bare.mean, overhead: mean(overheads),
    blockOverheads: overheads,
    blockSeconds: { contraseg: [first[stage].mean, last[stage].mean], bare: [first.bare[stage].mean, last.bare[stage].mean],
      pytorch: [torch1[stage].mean, torch2[stage].mean], pytorchBare: [torchBare1[stage].mean, torchBare2[stage].mean] },
    pytorchBareSeconds: pair(torchBare1, torchBare2, stage, 'mean'), pytorchOverhead: mean(pytorchOverheads),
    contrasegMedianSeconds: ours.median, pytorchMedianSeconds: theirs.median, medianRatio: ours.median / theirs.median, bareMedianSeconds: bare.median,
  };
};
const rows = { pretrain: row('pretrain'), finetune: row('finetune') };
/** With compare-writes: the background-writes blocks against the same PyTorch blocks. */
const otherRow = (stage: Stage) => {
  if (otherFirst === undefined || otherLast === undefined) return undefined;
  const ours = pair(otherFirst, otherLast, stage, 'mean');
  const overheads = [otherFirst, otherLast].map((block) => overheadOf(block, block.bare, stage));
  return { contrasegSeconds: ours, ratio: ours / rows[stage].pytorchSeconds, overhead: mean(overheads), blockOverheads: overheads,
    blockSeconds: [otherFirst[stage].mean, otherLast[stage].mean] };
};
const other = compareWrites ? { pretrain: otherRow('pretrain'), finetune: otherRow('finetune') } : undefined;
for (const stage of ['pretrain', 'finetune'] as const) {
  const r = rows[stage];
  console.log(`${stage}: contraseg ${r.contrasegSeconds.toFixed(3)} s/step, PyTorch ${r.pytorchSeconds.toFixed(3)} s/step, ratio ${r.ratio.toFixed(3)} (means); ` +
    `medians ${r.contrasegMedianSeconds.toFixed(3)} / ${r.pytorchMedianSeconds.toFixed(3)}, ratio ${r.medianRatio.toFixed(3)}; ` +
    `bare step ${r.bareSeconds.toFixed(3)} s, pipeline overhead ${(100 * r.overhead).toFixed(1)}% (blocks: ${percents(r.blockOverheads)}); ` +
    `PyTorch's bare step ${r.pytorchBareSeconds.toFixed(3)} s, its pipeline overhead ${(100 * r.pytorchOverhead).toFixed(1)}%`);
}
for (const stage of ['pretrain', 'finetune'] as const) {
  const r = other?.[stage];
  if (r !== undefined) {
    console.log(`${stage} with --checkpoint-writes ${OTHER_WRITES}: contraseg ${r.contrasegSeconds.toFixed(3)} s/step, ratio ${r.ratio.toFixed(3)}, ` +
      `pipeline overhead ${(100 * r.overhead).toFixed(1)}% (blocks: ${percents(r.blockOverheads)})`);
  }
}
console.log(JSON.stringify({
  bench: 'pipeline', steps, warmup, threads: THREADS, workers: WORKERS, statistic: 'mean', checkpointWrites: HEADLINE_WRITES,
  pretrain: rows.pretrain, finetune: rows.finetune, ratio: Math.max(rows.pretrain.ratio, rows.finetune.ratio),
  ...(other === undefined ? {} : { [OTHER_WRITES]: other }),
}));
