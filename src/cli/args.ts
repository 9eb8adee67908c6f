/** Argv parsing shared by the commands: node:util parseArgs for the syntax, a zod schema for the values. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CommanderError, type Command } from 'commander';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';

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

/**
 * The trained model a command reads: exactly one of --run <dir> / --checkpoint <file>, and --best for the
 * best-val series instead of the final weights.
 * @throws ConfigError when neither or both are given.
 */
export function trainedModelSource(flags: Record<string, unknown>, name: string): { source: string; series: 'finetune' | 'best' } {
  const source = (flags.run ?? flags.checkpoint) as string | undefined;
  if (source === undefined || (flags.run !== undefined && flags.checkpoint !== undefined)) {
    throw new ConfigError(`give one of --run <dir> or --checkpoint <file>. See: contraseg ${name} --help`);
  }
  return { source, series: flags.best === true ? 'best' : 'finetune' };
}
