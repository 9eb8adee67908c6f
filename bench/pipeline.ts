/**
 * npm run bench -- pipeline [steps=20] [warmup=3] [compare-writes] [rounds=N] [every=N] [stages=S]: seconds per
 * step of `contraseg pretrain` and `contraseg finetune` on the bundled CamVid (loader, augmentation, distortions,
 * a metrics line per step and a checkpoint every 10 steps included: `every=N` sets that interval on both sides;
 * 10 is ten times the CLI's default of 100, a stress setting that lets a short run include saves; `pipeline 100 3
 * every=100` times the default) against bench/pipeline_torch.py (torch DataLoader, torchvision transforms, the
 * same network, loss, optimiser, schedule, metrics line and durable checkpoints), 2 threads and 1 loader worker
 * each, same run, in blocks ordered contraseg, PyTorch, PyTorch, contraseg.
 * Seconds per step are the mean over the timed steps (the steps that write a checkpoint count: the issue
 * asks for steps per second with checkpointing included; a median would drop them), the medians are
 * printed beside. Also the pipeline's overhead over the bare training step (the same step on a fixed
 * batch, bench/_pipeline-bare.ts in a fresh process, timed right before each contraseg stage, since this
 * machine's speed drifts by several percent within minutes): per block, then their mean. For context,
 * PyTorch's pipeline over its own bare step (pipeline_torch.py --bare before each PyTorch block). Last
 * line: one JSON object. `npm run bench -- pipeline 30 3 compare-writes` also times contraseg with
 * `--checkpoint-writes background` in the same run (the default, and the headline, is sync). `stages=finetune` (or
 * `pretrain`) times one stage only; for `finetune` contraseg's stage 1 then runs one untimed step, to have a start.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sharedDataFolder } from '../src/data/fixtures.js';
import { CHECKPOINT_WRITES, parseRunConfig, type CheckpointWrites } from '../src/train/config.js';
import { readMetrics } from '../src/train/run-dir.js';
import { mean, median } from './lib/paired.js';
import { pythonExecutable, requirePytorchReference } from './lib/pytorch-reference.js';

requirePytorchReference(['torch', 'torchvision']);
const steps = Number(process.argv[2] ?? 20);
const warmup = Number(process.argv[3] ?? 3);
/** The write mode timed as the headline (contraseg's default, read from the config schema) and, with `compare-writes`, the other one. */
const HEADLINE_WRITES: CheckpointWrites = parseRunConfig({ data: { kind: 'camvid', root: '.' } }).checkpointWrites;
const OTHER_WRITES = CHECKPOINT_WRITES.find((mode) => mode !== HEADLINE_WRITES) as CheckpointWrites;
/**
 * Further arguments: `compare-writes` adds contraseg blocks with `--checkpoint-writes background` (the default
 * is sync); `rounds=N` (default 1) repeats the block order N times, so that the machine's drift averages out.
 */
const extra = process.argv.slice(4);
const compareWrites = extra.includes('compare-writes');
const roundsArg = extra.find((arg) => arg.startsWith('rounds='));
const rounds = roundsArg === undefined ? 1 : Number(roundsArg.slice('rounds='.length));
const everyArg = extra.find((arg) => arg.startsWith('every='));
const stagesArg = extra.find((arg) => arg.startsWith('stages='));
type Stage = 'pretrain' | 'finetune';
/** The stages timed, in order. */
const STAGES = (stagesArg === undefined ? ['pretrain', 'finetune'] : stagesArg.slice('stages='.length).split(',')) as Stage[];
/** Steps between two checkpoints, on both sides. */
const every = everyArg === undefined ? 10 : Number(everyArg.slice('every='.length));
const unknown = extra.filter((arg) => arg !== 'compare-writes' && arg !== roundsArg && arg !== everyArg && arg !== stagesArg);
const badStages = STAGES.length === 0 || STAGES.some((stage) => stage !== 'pretrain' && stage !== 'finetune');
if (unknown.length > 0 || !Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(every) || every < 1 || badStages) {
  console.error(`bench pipeline: unexpected argument(s) ${JSON.stringify(unknown.length > 0 ? unknown : [roundsArg, everyArg, stagesArg])} ` +
    '(expected compare-writes, rounds=N and/or every=N with N >= 1, stages=pretrain,finetune or one of them)');
  process.exit(2);
}
/** Checkpoints written inside the timed steps (warmup + 1 ... warmup + steps) of each stage. */
const checkpointsTimed = Math.floor((warmup + steps) / every) - Math.floor(warmup / every);
if (checkpointsTimed === 0) {
  console.error(`bench pipeline: no checkpoint would fall in the ${steps} timed steps with every=${every}; time at least ${every} steps or lower every`);
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

const common = ['--root', root, '--threads', String(THREADS), '--workers', String(WORKERS), '--checkpoint-every', String(every), '--set', 'logEvery=1', '--set', 'data.valSplit=null', '--no-test'];

/** Figures of the timed stages (STAGES) of one block. */
type Block = Partial<Record<Stage, StepFigures>>;

/** Whether a stage is timed (in STAGES). */
const timed = (stage: Stage): boolean => STAGES.includes(stage);

/** A timed stage's figures (present for every stage in STAGES). */
function figuresFor(block: Block, stage: Stage): StepFigures {
  const figures = block[stage];
  if (figures === undefined) throw new Error(`no ${stage} figures in a block`);
  return figures;
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
function contrasegBlock(writes: CheckpointWrites = HEADLINE_WRITES): Block & { bare: Block } {
  const dir = mkdtempSync(join(tmpdir(), 'contraseg-bench-pipeline-'));
  const flags = [...common, '--checkpoint-writes', writes];
  try {
    const bare: Block = {};
    if (timed('pretrain')) bare.pretrain = bareStep('pretrain');
    run(['pretrain', '--preset', 'camvid-quick', ...flags, '--pretrain-steps', String(timed('pretrain') ? steps + warmup : 1), '--out', join(dir, 'stage1')]);
    if (timed('finetune')) {
      bare.finetune = bareStep('finetune');
      run(['finetune', '--from', join(dir, 'stage1'), ...flags, '--finetune-steps', String(steps + warmup), '--out', join(dir, 'stage2')]);
    }
    if (labelledIdsFile === undefined) {
      labelledIdsFile = join(idsFolder, 'split.txt');
      copyFileSync(join(dir, 'stage1', 'split.txt'), labelledIdsFile);
    }
    const piped: Block = {};
    if (timed('pretrain')) piped.pretrain = figuresOf(stepSeconds(join(dir, 'stage1'), 'pretrain'));
    if (timed('finetune')) piped.finetune = figuresOf(stepSeconds(join(dir, 'stage2'), 'finetune'));
    return { ...piped, bare };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A PyTorch block: bench/pipeline_torch.py's pipelined stages, or (bare) its step on one fixed batch. */
function torchBlock(bare = false): Block {
  const result = spawnSync(pythonExecutable(), [join(here, 'pipeline_torch.py'), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(THREADS),
    '--workers', String(WORKERS), '--checkpoint-every', String(every), '--data', root as string, ...(labelledIdsFile === undefined ? [] : ['--labelled-ids', labelledIdsFile]),
    '--stages', STAGES.join(','), ...(bare ? ['--bare'] : [])],
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
  return Object.fromEntries(STAGES.map((stage) => [stage, pick(stage)])) as Block;
}

// Order per round: contraseg, PyTorch, PyTorch, contraseg; each pipelined block preceded by its side's bare
// step. With compare-writes: contraseg, contraseg background, PyTorch, PyTorch, contraseg background, contraseg.
type ContrasegBlock = ReturnType<typeof contrasegBlock>;
const ours: ContrasegBlock[] = [];
const others: ContrasegBlock[] = [];
const torchPairs: Array<{ bare: Block; piped: Block }> = [];
for (let round = 0; round < rounds; round += 1) {
  ours.push(contrasegBlock());
  if (compareWrites) others.push(contrasegBlock(OTHER_WRITES));
  for (let i = 0; i < 2; i += 1) {
    const bare = torchBlock(true);
    torchPairs.push({ bare, piped: torchBlock() });
  }
  if (compareWrites) others.push(contrasegBlock(OTHER_WRITES));
  ours.push(contrasegBlock());
}
/** The mean over blocks of one statistic of one stage. */
const across = (blocks: Block[], stage: Stage, statistic: keyof StepFigures): number => mean(blocks.map((block) => figuresFor(block, stage)[statistic]));
/** A pipelined block's mean step over the bare step timed just before it, minus 1. */
const overheadOf = (piped: Block, bareBlock: Block, stage: Stage): number => figuresFor(piped, stage).mean / figuresFor(bareBlock, stage).mean - 1;
const percents = (values: number[]): string => values.map((value) => `${(100 * value).toFixed(1)}%`).join(', ');
const torchPiped = torchPairs.map((pair) => pair.piped);
const row = (stage: Stage) => {
  const mine = { mean: across(ours, stage, 'mean'), median: across(ours, stage, 'median') };
  const theirs = { mean: across(torchPiped, stage, 'mean'), median: across(torchPiped, stage, 'median') };
  const bares = ours.map((block) => block.bare);
  const bare = { mean: across(bares, stage, 'mean'), median: across(bares, stage, 'median') };
  // The overhead of each contraseg block over the bare step timed just before it, then their mean.
  const overheads = ours.map((block) => overheadOf(block, block.bare, stage));
  // For context (no target): PyTorch's pipeline over its own bare step, the same way.
  const pytorchOverheads = torchPairs.map((pair) => overheadOf(pair.piped, pair.bare, stage));
  return {
    contrasegSeconds: mine.mean, pytorchSeconds: theirs.mean, ratio: mine.mean / theirs.mean, bareSeconds: bare.mean, overhead: mean(overheads),
    blockOverheads: overheads,
    blockSeconds: { contraseg: ours.map((block) => figuresFor(block, stage).mean), bare: bares.map((block) => figuresFor(block, stage).mean),
      pytorch: torchPiped.map((block) => figuresFor(block, stage).mean), pytorchBare: torchPairs.map((pair) => figuresFor(pair.bare, stage).mean) },
    pytorchBareSeconds: mean(torchPairs.map((pair) => figuresFor(pair.bare, stage).mean)), pytorchOverhead: mean(pytorchOverheads),
    contrasegMedianSeconds: mine.median, pytorchMedianSeconds: theirs.median, medianRatio: mine.median / theirs.median, bareMedianSeconds: bare.median,
  };
};
type Row = ReturnType<typeof row>;
const rows = Object.fromEntries(STAGES.map((stage) => [stage, row(stage)])) as Partial<Record<Stage, Row>>;
/** With compare-writes: the background-writes blocks against the same PyTorch blocks. */
const otherRow = (stage: Stage) => {
  if (others.length === 0) return undefined;
  const seconds = across(others, stage, 'mean');
  const overheads = others.map((block) => overheadOf(block, block.bare, stage));
  return { contrasegSeconds: seconds, ratio: seconds / (rows[stage] as Row).pytorchSeconds, overhead: mean(overheads), blockOverheads: overheads,
    blockSeconds: others.map((block) => figuresFor(block, stage).mean) };
};
const other = compareWrites ? Object.fromEntries(STAGES.map((stage) => [stage, otherRow(stage)])) as Partial<Record<Stage, ReturnType<typeof otherRow>>> : undefined;
for (const stage of STAGES) {
  const r = rows[stage] as Row;
  console.log(`${stage}: contraseg ${r.contrasegSeconds.toFixed(3)} s/step, PyTorch ${r.pytorchSeconds.toFixed(3)} s/step, ratio ${r.ratio.toFixed(3)} (means); ` +
    `medians ${r.contrasegMedianSeconds.toFixed(3)} / ${r.pytorchMedianSeconds.toFixed(3)}, ratio ${r.medianRatio.toFixed(3)}; ` +
    `bare step ${r.bareSeconds.toFixed(3)} s, pipeline overhead ${(100 * r.overhead).toFixed(1)}% (blocks: ${percents(r.blockOverheads)}); ` +
    `PyTorch's bare step ${r.pytorchBareSeconds.toFixed(3)} s, its pipeline overhead ${(100 * r.pytorchOverhead).toFixed(1)}%`);
}
for (const stage of STAGES) {
  const r = other?.[stage];
  if (r !== undefined) {
    console.log(`${stage} with --checkpoint-writes ${OTHER_WRITES}: contraseg ${r.contrasegSeconds.toFixed(3)} s/step, ratio ${r.ratio.toFixed(3)}, ` +
      `pipeline overhead ${(100 * r.overhead).toFixed(1)}% (blocks: ${percents(r.blockOverheads)})`);
  }
}
console.log(JSON.stringify({
  bench: 'pipeline', steps, warmup, threads: THREADS, workers: WORKERS, statistic: 'mean', rounds, checkpointEvery: every, checkpointsTimed, checkpointWrites: HEADLINE_WRITES,
  stages: STAGES, ...rows, ratio: Math.max(...STAGES.map((stage) => (rows[stage] as Row).ratio)),
  ...(other === undefined ? {} : { [OTHER_WRITES]: other }),
}));
