/** `contraseg sweep`: the label-efficiency study (methods x label budgets x seeds) with results.json, results.csv, results.md, miou.svg and report.html. */
import { Command } from 'commander';
import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { parseRunConfig } from '../train/config.js';
import { parseSweepConfig, sweepPreset, SWEEP_PRESETS, type SweepConfig } from '../train/sweep-config.js';
import { parseCommander, quietCommand } from './args.js';
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
Cells live in --work (default runs/sweep) and train seed by seed, every method of a seed before the next; a finished
cell is skipped, a killed one resumes from its checkpoint.
A cell recorded with other settings than the config asks (not counting threads, logging, checkpointing) stops the
sweep before it trains anything: use another --work directory for changed settings.`;

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
