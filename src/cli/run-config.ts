/**
 * Where a run's configuration comes from, lowest precedence first: a preset, a config file (YAML or
 * JSON), the named flags, then `--set key.path=value` overrides. The merge happens on plain data;
 * the result is validated once, by the run schema, which names any offending key.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import { parseRunConfig, type RunConfig } from '../train/config.js';
import { preset } from '../train/presets.js';

type Plain = Record<string, unknown>;

function isPlainObject(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge: objects merge key by key, anything else (arrays included) replaces. */
export function mergeConfig(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override === undefined ? base : override;
  const merged: Plain = { ...base };
  for (const [key, value] of Object.entries(override)) merged[key] = mergeConfig(base[key], value);
  return merged;
}

/** Reads a YAML or JSON config file (YAML is a superset of JSON). @throws ConfigError naming the file. */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    const value: unknown = parseYaml(text);
    if (!isPlainObject(value)) throw new Error('expected a mapping of keys to values at the top level');
    return value;
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid YAML/JSON: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** Sets `value` at a dotted path, creating objects on the way: setPath({}, 'a.b', 1) -> { a: { b: 1 } }. */
export function setPath(target: Plain, path: string, value: unknown): void {
  const keys = path.split('.');
  if (keys.some((key) => key === '')) throw new ConfigError(`--set ${path}: expected a dotted key such as pretrain.temperature`);
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {};
    node = node[key] as Plain;
  }
  node[keys[keys.length - 1] as string] = value;
}

/** Parses `key.path=value`; the value is read as YAML (numbers, booleans, null, [lists] and {maps} work). */
export function parseAssignment(text: string): { path: string; value: unknown } {
  const at = text.indexOf('=');
  if (at <= 0) throw new ConfigError(`--set ${text}: expected key=value, e.g. --set pretrain.temperature=0.1`);
  const raw = text.slice(at + 1);
  let value: unknown;
  try {
    value = parseYaml(raw);
  } catch {
    value = raw;
  }
  return { path: text.slice(0, at), value: value ?? null };
}

/** The sources of one run's configuration. */
export interface ConfigSources {
  readonly preset?: string;
  readonly configFile?: string;
  /** Values of named flags, as a partial config. */
  readonly flags: Plain;
  /** Raw `--set` assignments. */
  readonly assignments: readonly string[];
}

/** Merges the sources and validates the result. @throws ConfigError naming every bad key. */
export function resolveRunConfig(sources: ConfigSources): RunConfig {
  let merged: unknown = sources.preset === undefined ? {} : preset(sources.preset);
  if (sources.configFile !== undefined) merged = mergeConfig(merged, readConfigFile(sources.configFile));
  merged = mergeConfig(merged, sources.flags);
  const assigned: Plain = {};
  for (const assignment of sources.assignments) {
    const { path, value } = parseAssignment(assignment);
    setPath(assigned, path, value);
  }
  merged = mergeConfig(merged, assigned);
  const origin = [sources.preset && `preset ${sources.preset}`, sources.configFile, 'flags'].filter(Boolean).join(' + ');
  if (isPlainObject(merged) && merged.data === undefined) {
    throw new ConfigError('no dataset: give --preset (e.g. camvid-quick), --config FILE, or --dataset and --root');
  }
  return parseRunConfig(merged, origin);
}
