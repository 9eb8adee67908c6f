/** Argv parsing shared by the commands: node:util parseArgs for the syntax, a zod schema for the values. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CommanderError, type Command } from 'commander';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { MAX_LOGIT_ADJUSTMENT } from '../train/config.js';

/** Output streams of a command (injectable for tests). */
export interface CliIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Whether stderr is a terminal (progress bars), else plain progress lines. */
  readonly isTTY?: boolean;
  /** Aborted on SIGINT/SIGTERM: long commands stop at the next safe point (a checkpoint). */
  readonly signal?: AbortSignal;
}

/** The option syntax of a command: parseArgs' option table. */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `--name value` / `--flag` options of one command and validates them with `schema`.
 * @throws ConfigError naming the bad option and pointing at `contraseg <command> --help`.
 */
export function parseOptions<S extends z.ZodTypeAny>(command: string, argv: readonly string[], spec: OptionSpec, schema: S): z.output<S> {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new ConfigError(`${(error as Error).message.replace(/\. To specify .*$/s, '')}. See: contraseg ${command} --help`);
  }
  const result = schema.safeParse(values);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = issue?.path.length ? `--${issue.path.join('.')}` : `contraseg ${command}`;
    throw new ConfigError(`${name}: ${issue?.message ?? 'invalid options'}. See: contraseg ${command} --help`);
  }
  return result.data;
}

/** Makes a commander command throw instead of printing and exiting (this module's callers own the output). */
export function quietCommand(command: Command): Command {
  return command.exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined, outputError: () => undefined });
}

/**
 * Parses `argv` with a commander command built by quietCommand.
 * @throws ConfigError with commander's message and a pointer to `contraseg <name> --help`.
 */
export function parseCommander(command: Command, name: string, argv: readonly string[]): Record<string, unknown> {
  try {
    command.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) throw new ConfigError(`${error.message.replace(/^error: /, '')}. See: contraseg ${name} --help`);
    throw error;
  }
  return command.opts<Record<string, unknown>>();
}

/** What a command reads a trained model from (see trainedModelSource). */
export interface TrainedModelSource {
  readonly source: string;
  readonly series: 'finetune' | 'best';
  /** --logit-adjustment: tau instead of the run's own. */
  readonly logitAdjustment?: number;
}

function tau(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !(parsed >= 0 && parsed <= MAX_LOGIT_ADJUSTMENT)) throw new ConfigError(`--logit-adjustment: expected a number in [0, ${MAX_LOGIT_ADJUSTMENT}], got "${value}"`);
  return parsed;
}

/** Adds --logit-adjustment <tau> (eval, predict, export): read back by trainedModelSource. */
export function logitAdjustmentOption(command: Command): Command {
  return command.option('--logit-adjustment <tau>', 'subtract tau * log(class share of the run\'s labelled pixels) from the logits; '
    + '0 = none, 1 = balanced (default: the run\'s finetune.logitAdjustment)', tau);
}

/**
 * The trained model a command reads: exactly one of --run <dir> / --checkpoint <file>, --best for the
 * best-val series instead of the final weights, and --logit-adjustment when the command offers it.
 * @throws ConfigError when neither or both are given.
 */
export function trainedModelSource(flags: Record<string, unknown>, name: string): TrainedModelSource {
  const source = (flags.run ?? flags.checkpoint) as string | undefined;
  if (source === undefined || (flags.run !== undefined && flags.checkpoint !== undefined)) {
    throw new ConfigError(`give one of --run <dir> or --checkpoint <file>. See: contraseg ${name} --help`);
  }
  return { source, series: flags.best === true ? 'best' : 'finetune', ...(flags.logitAdjustment === undefined ? {} : { logitAdjustment: flags.logitAdjustment as number }) };
}
