/** `contraseg sweep`: the label-efficiency study (methods x label budgets x seeds) with results.json, results.csv, results.md, miou.svg and report.html. */
import { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDataset, type DatasetSource } from '../data/open-dataset.js';
import { ConfigError } from '../errors.js';
import { miouByBudgetSvg, renderReport, resultsCsv, resultsMarkdown } from '../report/index.js';
import type { SweepResults } from '../report/results.js';
import { parseRunConfig } from '../train/config.js';
import { parseSweepConfig, sweepPreset, SWEEP_PRESETS, type SweepConfig } from '../train/sweep-config.js';
import { embeddingMaps, predictionGrid } from '../train/sweep-extras.js';
import { gatherResults, trainSweep, type SweepJob } from '../train/sweep-run.js';
import { cellDone, type CellPlan } from '../train/sweep.js';
import { writeFileAtomic } from '../train/run-dir.js';
import { parseCommander, quietCommand, type CliIO } from './args.js';
import { mergeConfig, parseAssignment, readConfigFile, setPath } from './run-config.js';

/** Validated options of `contraseg sweep`. */
export interface SweepOptions {
  readonly sweep: SweepConfig;
  /** results.json, results.csv, results.md (the table), miou.svg (the chart), report.html go here. */
  readonly out: string;
  /** The cells' run directories (checkpoints: large, not for git). */
  readonly work: string;
  readonly jobs: number;
  readonly command: string;
}

const EXAMPLES = `
Examples:
  contraseg sweep --preset camvid-sweep --out docs/results          # the CamVid study (resumable: rerun to continue)
  contraseg sweep --preset camvid-sweep --budgets 20 --methods ce,within --seeds 1 --out /tmp/probe
  contraseg sweep --preset camvid-sweep --set base.pretrain.steps=400 --jobs 2 --out runs/longer
Cells live in --work (default runs/sweep); a finished cell is skipped, a killed one resumes from its checkpoint.`;

function list(value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

function buildCommand(): Command {
  return quietCommand(new Command('sweep')
    .description('train and evaluate every (method, label budget, seed) cell; write results.json, results.csv, results.md, miou.svg and report.html')
    .option('--preset <name>', `sweep preset: ${SWEEP_PRESETS.join(', ')}`)
    .option('--config <file>', 'sweep config file (YAML or JSON: base, methods, budgets, seeds, ...)')
    .option('--out <dir>', 'where results.json, results.csv, results.md, miou.svg and report.html go', 'docs/results')
    .option('--work <dir>', 'run directories of the cells', 'runs/sweep')
    .option('--jobs <n>', 'cells trained at once (libtorch threads are split between them)', Number, 1)
    .option('--methods <list>', 'comma-separated methods, e.g. ce,within,cross', list)
    .option('--budgets <list>', 'comma-separated label budgets, e.g. 20,50,all', list)
    .option('--seeds <n>', 'seeds per budget (budgets above manySeedsUpTo get seedsAbove)', Number)
    .option('--set <key=value>', 'any sweep config key, e.g. base.pretrain.steps=400 (repeatable)', (v: string, p: string[]) => [...p, v], [])
    .addHelpText('after', EXAMPLES));
}

/** Usage text of `contraseg sweep`. */
export const sweepUsage = (): string => buildCommand().helpInformation() + EXAMPLES.trimStart();

/** @throws ConfigError for bad options or an invalid sweep config. */
export function parseSweepArgs(argv: readonly string[]): SweepOptions {
  const command = buildCommand();
  const flags = parseCommander(command, 'sweep', argv);
  if (flags.preset === undefined && flags.config === undefined) throw new ConfigError('give --preset (e.g. camvid-sweep) or --config FILE. See: contraseg sweep --help');
  let merged: unknown = flags.preset === undefined ? {} : sweepPreset(flags.preset as string);
  if (flags.config !== undefined) merged = mergeConfig(merged, readConfigFile(flags.config as string));
  const overrides: Record<string, unknown> = {};
  if (flags.methods !== undefined) overrides.methods = flags.methods;
  if (flags.budgets !== undefined) overrides.budgets = (flags.budgets as string[]).map((k) => (k === 'all' ? 'all' : Number(k)));
  if (flags.seeds !== undefined) overrides.seeds = flags.seeds;
  for (const assignment of flags.set as string[]) {
    const { path, value } = parseAssignment(assignment);
    setPath(overrides, path, value);
  }
  const sweep = parseSweepConfig(mergeConfig(merged, overrides), 'sweep');
  parseRunConfig(sweep.base, 'sweep base'); // fail now, not in the first child
  const jobs = flags.jobs as number;
  if (!(Number.isInteger(jobs) && jobs >= 1)) throw new ConfigError(`--jobs: expected an integer >= 1, got ${String(flags.jobs)}`);
  return { sweep, out: resolve(flags.out as string), work: resolve(flags.work as string), jobs, command: `contraseg sweep ${argv.join(' ')}` };
}

/** The cells the pictures come from: seed 0 at the smallest budget. */
function pictureCells(cells: readonly CellPlan[]): CellPlan[] {
  const done = cells.filter((cell) => cell.seed === 0 && cellDone(cell));
  const smallest = done.reduce<number | 'all' | undefined>((min, cell) => (min === undefined || (cell.labelled !== 'all' && (min === 'all' || cell.labelled < min)) ? cell.labelled : min), undefined);
  return done.filter((cell) => cell.labelled === smallest);
}

async function write(options: SweepOptions, results: SweepResults): Promise<void> {
  mkdirSync(options.out, { recursive: true });
  writeFileAtomic(join(options.out, 'results.json'), `${JSON.stringify(results, null, 1)}\n`);
  writeFileAtomic(join(options.out, 'results.csv'), resultsCsv(results));
  writeFileAtomic(join(options.out, 'report.html'), await renderReport(results));
  // the headline chart alone, for the README and other pages that cannot embed the report
  writeFileAtomic(join(options.out, 'miou.svg'), await miouByBudgetSvg(results));
  writeFileAtomic(join(options.out, 'results.md'), resultsMarkdown(results));
}

/** Runs `contraseg sweep`: trains what is missing, then writes the results (after every budget, and with pictures at the end). */
export async function runSweep(options: SweepOptions, io: CliIO): Promise<void> {
  const log = (text: string): void => io.stderr(`${text}\n`);
  const job: SweepJob = {
    sweep: options.sweep, out: options.work, jobs: options.jobs, command: options.command, log,
    ...(io.signal === undefined ? {} : { signal: io.signal }),
    afterBudget: async (cells, ceChoice) => write(options, await gatherResults(job, cells, ceChoice)),
  };
  const { cells, ceChoice } = await trainSweep(job);
  const results = await gatherResults(job, cells, ceChoice);
  const base = parseRunConfig(options.sweep.base, 'sweep base');
  if (base.data.testSplit !== null) {
    log('rendering the prediction grid and the embedding maps');
    const test = await openDataset({ kind: base.data.kind, root: base.data.root, split: base.data.testSplit } as DatasetSource);
    const pictures = pictureCells(cells);
    const predictions = await predictionGrid(pictures, test, options.sweep.gridImages, test.colours);
    const ce = pictures.find((cell) => cell.method === 'ce');
    const contrastive = pictures.find((cell) => cell.method !== 'ce');
    const embeddings = options.sweep.embeddingPixels > 0 ? await embeddingMaps(ce, contrastive, test, options.sweep.embeddingPixels) : [];
    await write(options, { ...results, predictions, embeddings });
  } else {
    await write(options, results);
  }
  io.stdout(`${results.cells.length} cells; results in ${join(options.out, 'results.json')}, report in ${join(options.out, 'report.html')}\n`);
}
