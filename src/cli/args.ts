/** Argv parsing shared by the commands: node:util parseArgs for the syntax, a zod schema for the values. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
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
