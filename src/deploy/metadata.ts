/**
 * The contract between an exported model and whoever runs it (segmenter.ts here, web/ in the browser):
 * metadata_props keys and their JSON values. Input `image` float32 [N, 3, H, W], already normalised as
 * (rgb / 255 - mean) / std; output `logits` float32 [N, C, H, W] at the input size.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckpointError } from '../errors.js';

/** Name of the graph input. */
export const ONNX_INPUT = 'image';
/** Name of the graph output. */
export const ONNX_OUTPUT = 'logits';

/** metadata_props keys (values are JSON, except version). */
export const METADATA_KEYS = {
  classNames: 'contraseg.classNames',
  colours: 'contraseg.colours',
  mean: 'contraseg.mean',
  std: 'contraseg.std',
  version: 'contraseg.version',
  outputStride: 'contraseg.outputStride',
} as const;

/** What an exported model says about itself. */
export interface ModelMetadata {
  /** One name per class; class id = index. */
  readonly classNames: string[];
  /** One [r, g, b] (0-255) per class. */
  readonly colours: [number, number, number][];
  /** Per-channel mean and std on the 0-1 RGB scale. */
  readonly mean: [number, number, number];
  readonly std: [number, number, number];
  /** The contraseg version that exported it. */
  readonly version: string;
  /** The backbone's output stride (8 or 16). */
  readonly outputStride: number;
}

/** The metadata as metadata_props strings. */
export function encodeMetadata(metadata: ModelMetadata): Record<string, string> {
  return {
    [METADATA_KEYS.classNames]: JSON.stringify(metadata.classNames),
    [METADATA_KEYS.colours]: JSON.stringify(metadata.colours),
    [METADATA_KEYS.mean]: JSON.stringify(metadata.mean),
    [METADATA_KEYS.std]: JSON.stringify(metadata.std),
    [METADATA_KEYS.version]: metadata.version,
    [METADATA_KEYS.outputStride]: String(metadata.outputStride),
  };
}

function parseJson(props: Map<string, string>, key: string, file: string): unknown {
  const text = props.get(key);
  if (text === undefined) {
    throw new CheckpointError(`the ONNX model has no metadata '${key}'; it was not exported by contraseg export (re-export it)`, file);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError(`metadata '${key}' is not JSON: ${text.slice(0, 80)}`, file);
  }
}

function isTriple(value: unknown, check: (entry: unknown) => boolean): value is [number, number, number] {
  return Array.isArray(value) && value.length === 3 && value.every(check);
}

/**
 * Reads and checks the metadata_props of a contraseg model.
 * @throws CheckpointError naming `file` and the key for a missing or malformed entry.
 */
export function decodeMetadata(props: Map<string, string>, file: string): ModelMetadata {
  const classNames = parseJson(props, METADATA_KEYS.classNames, file);
  const colours = parseJson(props, METADATA_KEYS.colours, file);
  const mean = parseJson(props, METADATA_KEYS.mean, file);
  const std = parseJson(props, METADATA_KEYS.std, file);
  const outputStride = Number(props.get(METADATA_KEYS.outputStride));
  const bad = (key: string, expected: string): CheckpointError => new CheckpointError(`metadata '${key}': expected ${expected}`, file);
  if (!Array.isArray(classNames) || classNames.length === 0 || !classNames.every((name) => typeof name === 'string')) {
    throw bad(METADATA_KEYS.classNames, 'a non-empty JSON array of strings');
  }
  const isByte = (entry: unknown): boolean => Number.isInteger(entry) && (entry as number) >= 0 && (entry as number) <= 255;
  if (!Array.isArray(colours) || colours.length !== classNames.length || !colours.every((colour) => isTriple(colour, isByte))) {
    throw bad(METADATA_KEYS.colours, `${classNames.length} [r, g, b] triples of integers 0-255 (one per class)`);
  }
  const isFinite = (entry: unknown): boolean => typeof entry === 'number' && Number.isFinite(entry);
  if (!isTriple(mean, isFinite)) throw bad(METADATA_KEYS.mean, 'three finite numbers');
  if (!isTriple(std, (entry) => isFinite(entry) && (entry as number) > 0)) throw bad(METADATA_KEYS.std, 'three positive numbers');
  return {
    classNames: classNames as string[], colours: colours as [number, number, number][], mean, std,
    version: props.get(METADATA_KEYS.version) ?? 'unknown', outputStride: Number.isFinite(outputStride) ? outputStride : 0,
  };
}

/** contraseg's package version, read from the package.json above this module (src/ or dist/src/). */
export function packageVersion(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    try {
      const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'contraseg' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // no package.json here: keep walking up
    }
    folder = dirname(folder);
  }
  return 'unknown';
}
