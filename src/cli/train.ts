/**
 * `contraseg train | pretrain | finetune`: flags (commander) -> sources of a run config -> one
 * validated RunConfig -> runTraining, with progress on stderr and the results on stdout.
 */
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { CHECKPOINT_WRITES, METHODS, NAN_POLICIES, type RunConfig } from '../train/config.js';
import { PRESETS, PRESET_DESCRIPTIONS } from '../train/presets.js';
import { BASELINE_DIR, isRunDir, readRunConfig } from '../train/run-dir.js';
import type { StageSelection } from '../train/run.js';
import { parseCommander, quietCommand } from './args.js';
import { resolveRunConfig } from './run-config.js';

/** A parsed training command. */
export interface TrainOptions {
  readonly command: 'train' | 'pretrain' | 'finetune';
  readonly config: RunConfig;
  readonly runDir: string;
  readonly resume: boolean;
  readonly stages: StageSelection;
  /** finetune --from: the run dir or checkpoint of stage 1. */
  readonly pretrained?: string;
  readonly json: boolean;
  /** --nproc: local ranks to start (1: this process trains alone, or as the rank a launcher made it). */
  readonly nproc: number;
  /** --sync-bn: BatchNorm statistics over all ranks. */
  readonly syncBn: boolean;
  /** --dist-timeout: bound on the rendezvous and every collective, ms. */
  readonly distTimeoutMs: number;
  /** The command line without --nproc, for the ranks --nproc starts. */
  readonly rankArgv: readonly string[];
}

const EXAMPLES: Record<TrainOptions['command'], string> = {
  train: `
Examples:
  contraseg train --preset camvid-quick --out runs/quick          # within-image pretraining + fine-tuning, and the CE baseline
  contraseg train --preset camvid-quick --method ce --no-baseline  # the cross-entropy baseline alone
  contraseg train --dataset folder --root data/mine --labelled 20 --crop 256 --out runs/mine
  contraseg train --config run.yaml --set pretrain.temperature=0.1 --out runs/t01
  contraseg train --resume runs/quick                              # continue after a crash or Ctrl-C
  contraseg train --preset camvid-quick --nproc 2 --batch-size 4   # 2 local processes, global batch 8

Presets:
${Object.entries(PRESET_DESCRIPTIONS).map(([name, text]) => `  ${name.padEnd(13)} ${text}`).join('\n')}

Run directory: config.json, split.txt, metrics.jsonl, checkpoints/, summary.json, curves.svg[, baseline/]`,
  pretrain: `
Example:
  contraseg pretrain --preset camvid-quick --out runs/stage1       # stage 1 only; then: contraseg finetune --from runs/stage1`,
  finetune: `
Examples:
  contraseg finetune --from runs/stage1 --out runs/stage2          # stage 2 from a pretrain run, same config
  contraseg finetune --preset camvid-quick --method ce --out runs/ce   # from random initialisation (the baseline)`,
};

const number = (value: string): number => Number(value);
const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Parses --labelled: a count, a fraction in (0, 1) or "all". */
function labelled(value: string): unknown {
  if (value === 'all') return 'all';
  const amount = Number(value);
  return Number.isInteger(amount) ? { count: amount } : { fraction: amount };
}

/** Parses --crop: "HxW" or one number for a square. */
function crop(value: string): unknown {
  const match = /^(\d+)(?:x(\d+))?$/.exec(value);
  if (match === null) throw new ConfigError(`--crop: expected HxW or N (e.g. 128x256 or 128), got "${value}"`);
  return { height: Number(match[1]), width: Number(match[2] ?? match[1]) };
}

function buildCommand(name: TrainOptions['command']): Command {
  const command = new Command(name)
    .description(name === 'train' ? 'contrastive pretraining, then softmax fine-tuning (or --method ce); evaluates on val and test'
      : name === 'pretrain' ? 'stage 1 only: label-based pixel-wise contrastive pretraining'
        : 'stage 2 only: softmax fine-tuning from a pretrain run (--from) or from scratch (--method ce)')
    .option('--preset <name>', `starting configuration: ${Object.keys(PRESETS).join(', ')}`)
    .option('--config <file>', 'YAML or JSON config file (keys as in config.json of a run)')
    .option('--out <dir>', 'run directory (default runs/<preset or method>)')
    .option('--resume [dir]', 'continue the run in <dir> (default --out) from its latest checkpoint')
    .addOption(new Option('--method <method>', 'training method').choices([...METHODS]))
    .option('--dataset <kind>', 'dataset layout: camvid, voc, cityscapes, folder')
    .option('--root <dir>', 'dataset folder')
    .option('--labelled <n>', 'labelled train images: a count, a fraction, or all', labelled)
    .option('--split-file <file>', 'file naming the labelled image ids, one per line')
    .option('--batch-size <n>', 'images per step', number)
    .option('--crop <HxW>', 'training crop size', crop)
    .option('--backbone <kind>', 'resnet18, resnet34, resnet50, mobilenetv2')
    .option('--width <w>', 'backbone width multiplier (ASPP/decoder scale with it)', number)
    .option('--output-stride <n>', '8 or 16', number)
    .option('--backbone-weights <file>', 'ImageNet backbone weights (safetensors)')
    .option('--pretrain-steps <n>', 'stage 1 steps', number)
    .option('--finetune-steps <n>', 'stage 2 steps (ce: pretrain + finetune steps)', number)
    .option('--pretrain-lr <lr>', 'stage 1 learning rate', number)
    .option('--finetune-lr <lr>', 'stage 2 learning rate', number)
    .option('--temperature <t>', 'contrastive temperature (default 0.07)', number)
    .option('--logit-adjustment <tau>', 'evaluate and predict with logits minus tau * log(labelled class share); 1 = balanced, 0 = off (the default)', number)
    .option('--seed <n>', 'seed of everything: split, init, order, augmentation', number)
    .option('--threads <n>', 'libtorch threads (default: cores)', number)
    .option('--workers <n>', 'image decoding threads', number)
    .option('--eval-every <n>', 'val evaluation every n fine-tuning steps (0: at the end)', number)
    .option('--checkpoint-every <n>', 'checkpoint every n steps', number)
    .addOption(new Option('--checkpoint-writes <mode>', 'sync (the default): a kill loses at most one interval; background: a thread writes while training goes on (up to two intervals lost)').choices([...CHECKPOINT_WRITES]))
    .addOption(new Option('--nan-policy <policy>', 'a NaN/Inf loss or gradient: stop the run, or skip that update').choices([...NAN_POLICIES]))
    .option('--baseline', 'also train the cross-entropy baseline with the same labels and total steps')
    .option('--no-baseline', 'do not train the baseline (even if the preset does)')
    .option('--channels-last', 'channels-last memory layout (faster on some CPUs only)')
    .option('--no-test', 'skip the final test-split evaluation')
    .option('--set <key=value>', 'any config key, e.g. pretrain.lossStride=8 (repeatable)', collect, [])
    .option('--json', 'print the results as one JSON object')
    .option('--nproc <n>', 'data-parallel: start n local processes (ranks); --batch-size is per process', number)
    .option('--sync-bn', 'data-parallel: BatchNorm statistics over every process\'s batch')
    .option('--dist-timeout <seconds>', 'data-parallel: how long a rank waits for the others (default 300)', number);
  if (name === 'finetune') command.option('--from <dir>', 'stage-1 run directory or checkpoint to fine-tune');
  command.addHelpText('after', EXAMPLES[name]);
  return quietCommand(command);
}

/** Usage text of a training command. */
export function trainUsage(name: TrainOptions['command']): string {
  return buildCommand(name).helpInformation() + EXAMPLES[name].trimStart();
}

type Flags = Record<string, unknown>;

function flagsToConfig(flags: Flags): Record<string, unknown> {
  const config: Record<string, Record<string, unknown> | unknown> = {};
  const put = (path: string, value: unknown): void => {
    if (value === undefined) return;
    const keys = path.split('.');
    let node = config as Record<string, unknown>;
    for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[keys[keys.length - 1] as string] = value;
  };
  put('method', flags.method);
  put('data.kind', flags.dataset);
  put('data.root', flags.root);
  put('data.labelled', flags.labelled);
  put('data.splitFile', flags.splitFile);
  put('data.crop', flags.crop);
  put('data.workers', flags.workers);
  put('checkpointWrites', flags.checkpointWrites);
  put('batchSize', flags.batchSize);
  put('model.backbone', flags.backbone);
  put('model.widthMultiplier', flags.width);
  put('model.outputStride', flags.outputStride);
  put('model.backboneWeights', flags.backboneWeights);
  put('model.channelsLast', flags.channelsLast);
  put('pretrain.steps', flags.pretrainSteps);
  put('finetune.steps', flags.finetuneSteps);
  put('pretrain.temperature', flags.temperature);
  put('finetune.logitAdjustment', flags.logitAdjustment);
  put('seed', flags.seed);
  put('threads', flags.threads);
  put('eval.every', flags.evalEvery);
  put('checkpointEvery', flags.checkpointEvery);
  put('nanPolicy', flags.nanPolicy);
  put('baseline', flags.baseline);
  if (flags.test === false) put('eval.test', false);
  return config;
}

/** Learning-rate flags change only `lr`, keeping the optimiser kind of the preset or file. */
function applyLearningRates(config: RunConfig, flags: Flags): RunConfig {
  if (typeof flags.pretrainLr === 'number') config.pretrain.optimizer.lr = flags.pretrainLr;
  if (typeof flags.finetuneLr === 'number') config.finetune.optimizer.lr = flags.finetuneLr;
  for (const [flag, lr] of [['--pretrain-lr', config.pretrain.optimizer.lr], ['--finetune-lr', config.finetune.optimizer.lr]] as const) {
    if (!(Number.isFinite(lr) && lr > 0)) throw new ConfigError(`${flag}: expected a positive number, got ${String(lr)}`);
  }
  return config;
}

/** argv without `--nproc N` / `--nproc=N`. */
function withoutNproc(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--nproc') i++;
    else if (!(argv[i] as string).startsWith('--nproc=')) out.push(argv[i] as string);
  }
  return out;
}

/** --nproc and --dist-timeout checked; laterRank: this process is a rank > 0 of a launched job (rank 0 made the run dir). */
function parallelFlags(flags: Flags): { nproc: number; distTimeoutMs: number; laterRank: boolean } {
  const nproc = flags.nproc === undefined ? 1 : (flags.nproc as number);
  if (!Number.isInteger(nproc) || nproc < 1) throw new ConfigError(`--nproc: expected a positive integer, got ${String(flags.nproc)}`);
  const seconds = flags.distTimeout === undefined ? 300 : (flags.distTimeout as number);
  if (!(Number.isFinite(seconds) && seconds > 0)) throw new ConfigError(`--dist-timeout: expected a positive number of seconds, got ${String(flags.distTimeout)}`);
  const rank = Number(process.env.RANK ?? '0');
  if (nproc > 1 && process.env.WORLD_SIZE !== undefined && process.env.WORLD_SIZE !== '1') {
    throw new ConfigError(`--nproc ${nproc} in a process already launched as a rank (WORLD_SIZE=${process.env.WORLD_SIZE}); ` +
      'use either a launcher (torchrun, srun) or --nproc, not both');
  }
  return { nproc, distTimeoutMs: Math.round(seconds * 1000), laterRank: process.env.WORLD_SIZE !== undefined && rank > 0 };
}

/** @throws ConfigError for unknown flags, bad values, or a run directory that exists without --resume. */
export function parseTrainArgs(name: TrainOptions['command'], argv: readonly string[]): TrainOptions {
  const command = buildCommand(name);
  const flags = parseCommander(command, name, argv);
  if (command.args.length > 0) throw new ConfigError(`unexpected argument "${command.args[0]}". See: contraseg ${name} --help`);
  const resumeDir = typeof flags.resume === 'string' ? flags.resume : undefined;
  const runDir = resolve(resumeDir ?? (flags.out as string | undefined) ?? join('runs', String(flags.preset ?? flags.method ?? 'run')));
  const resume = flags.resume !== undefined;
  const { nproc, distTimeoutMs, laterRank } = parallelFlags(flags);
  const pretrained = typeof flags.from === 'string' ? resolve(flags.from) : undefined;
  let config: RunConfig;
  if (resume && isRunDir(runDir)) {
    config = readRunConfig(runDir); // a resumed run keeps its config: bit-exact continuation
  } else {
    if (resume) throw new ConfigError(`--resume: ${runDir} holds no run (no config.json). Start it without --resume first.`);
    if (isRunDir(runDir) && !laterRank) throw new ConfigError(`${runDir} already holds a run; continue it with --resume ${runDir}, or choose another --out`);
    const base = pretrained !== undefined && existsSync(join(pretrained, 'config.json')) && flags.preset === undefined && flags.config === undefined
      ? { preset: undefined, configFile: join(pretrained, 'config.json') } : { preset: flags.preset as string | undefined, configFile: flags.config as string | undefined };
    config = applyLearningRates(resolveRunConfig({
      ...(base.preset === undefined ? {} : { preset: base.preset }),
      ...(base.configFile === undefined ? {} : { configFile: base.configFile }),
      flags: flagsToConfig(flags), assignments: flags.set as string[],
    }), flags);
  }
  if (name === 'finetune' && config.method !== 'ce' && pretrained === undefined && !resume) {
    throw new ConfigError('finetune needs --from <stage-1 run dir> (or --method ce to train from scratch)');
  }
  if (name === 'pretrain' && config.method === 'ce') throw new ConfigError('pretrain with --method ce has nothing to do; choose within, cross, batch or official');
  return {
    command: name, config, runDir, resume, json: flags.json === true, nproc, syncBn: flags.syncBn === true, distTimeoutMs,
    rankArgv: [name, ...withoutNproc(argv)],
    stages: name === 'train' ? 'both' : name, ...(pretrained === undefined ? {} : { pretrained }),
  };
}

/** The baseline's run directory inside a run. */
export function baselineDir(runDir: string): string {
  return join(runDir, BASELINE_DIR);
}
