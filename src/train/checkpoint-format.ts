/**
 * The JSON half of a checkpoint and the pointer file: their schemas, their self-checksum, and the model
 * fingerprint. Everything here is plain data: no tensors, no file system.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CheckpointError } from '../errors.js';

/** `format` of a checkpoint's JSON file. */
export const CHECKPOINT_FORMAT = 'contraseg-checkpoint';
/** `format` of a pointer file (`<name>.json`). */
export const POINTER_FORMAT = 'contraseg-checkpoint-pointer';
/** The format version this code writes and reads. Bump it when a field changes meaning. */
export const CHECKPOINT_VERSION = 1;

/** Any value JSON can hold exactly (finite numbers only). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The training stage a checkpoint was written in. */
export type Stage = 'pretrain' | 'finetune';

/** Where the deterministic loader resumes: the next batch to draw is `batch` of `epoch` (both from 0). */
export interface LoaderPosition {
  epoch: number;
  batch: number;
}

const jsonValue: z.ZodType<JsonValue> = z.lazy(() => z.union([
  z.null(), z.boolean(), z.number().finite(), z.string(), z.array(jsonValue), z.record(jsonValue),
]));
const count = z.number().int().nonnegative();
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');

const metaSchema = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  version: z.literal(CHECKPOINT_VERSION),
  name: z.string(),
  /** Save counter across the series: orders checkpoints when the pointer is lost, even if steps went back. */
  sequence: count,
  step: count,
  stage: z.enum(['pretrain', 'finetune']),
  savedAt: z.string(),
  tensors: z.object({ file: z.string().regex(/^[^/\\]+\.safetensors$/, 'expected a .safetensors file name without directories'), bytes: count, sha256 }).strict(),
  model: z.object({ fingerprint: sha256, tensorCount: count }).strict(),
  /** The optimiser's stateDict().meta; null when saved without an optimiser. */
  optimizer: z.record(jsonValue).nullable(),
  /** getRngState() bytes, base64. */
  rngState: z.string().base64(),
  loaderPosition: z.object({ epoch: count, batch: count }).strict(),
  config: jsonValue,
  splitIds: z.array(z.string()),
  metrics: z.record(jsonValue),
}).strict();

/** The JSON half of a checkpoint (what readCheckpoint returns as `meta`). */
export type CheckpointMeta = z.infer<typeof metaSchema>;

const pointerSchema = z.object({
  format: z.literal(POINTER_FORMAT),
  version: z.literal(CHECKPOINT_VERSION),
  /** File name (no directory) of the checkpoint's JSON, in the pointer's directory. */
  checkpoint: z.string().regex(/^[^/\\]+\.json$/, 'expected a .json file name without directories'),
  sequence: count,
  step: count,
}).strict();

/** The content of a pointer file `<name>.json`: which checkpoint of the series is the latest. */
export type CheckpointPointer = z.infer<typeof pointerSchema>;

/** Lowercase hex SHA-256 of bytes or of a UTF-8 string. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The architecture's fingerprint: SHA-256 of the sorted `key:shape` lines of a state dict (values do not
 * matter), so a checkpoint of another model is recognised before any tensor is copied.
 */
export function modelFingerprint(shapes: Iterable<[string, number[]]>): string {
  const lines = [...shapes].map(([key, shape]) => `${key}:${shape.join('x')}`).sort();
  return sha256Hex(lines.join('\n'));
}

/**
 * Serialises a meta or a pointer with a `jsonSha256` field last: the SHA-256 of the compact JSON of every
 * other field, so a flipped byte that still parses (a digit of the step) is caught too.
 */
export function encodeChecked(value: CheckpointMeta | CheckpointPointer): Buffer {
  const body = JSON.stringify(value);
  return Buffer.from(`${JSON.stringify({ ...value, jsonSha256: sha256Hex(body) }, null, 2)}\n`, 'utf8');
}

/** The two kinds of contraseg checkpoint JSON. */
export type CheckedJson = { kind: 'checkpoint'; meta: CheckpointMeta } | { kind: 'pointer'; pointer: CheckpointPointer };

/**
 * Parses and verifies a checkpoint JSON or a pointer file: JSON syntax, format, version, self-checksum
 * and fields, in that order (a newer version may change the rest). `file` names the source in errors.
 * @throws CheckpointError saying which of these failed.
 */
export function decodeChecked(bytes: Uint8Array, file: string): CheckedJson {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new CheckpointError(`unreadable JSON (${(error as Error).message}): the file was altered or truncated`, file);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CheckpointError('not a contraseg checkpoint: expected a JSON object', file);
  }
  const { jsonSha256, ...rest } = parsed as Record<string, unknown>;
  const format = rest.format;
  if (format !== CHECKPOINT_FORMAT && format !== POINTER_FORMAT) {
    throw new CheckpointError(`not a contraseg checkpoint: format is ${JSON.stringify(format)}, expected '${CHECKPOINT_FORMAT}'`, file);
  }
  if (rest.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`written in checkpoint format version ${JSON.stringify(rest.version)}; this contraseg reads version ` +
      `${CHECKPOINT_VERSION}. Use the contraseg version that wrote it.`, file);
  }
  if (jsonSha256 !== sha256Hex(JSON.stringify(rest))) {
    throw new CheckpointError('checksum mismatch: the JSON was altered or truncated', file);
  }
  const result = format === CHECKPOINT_FORMAT ? metaSchema.safeParse(rest) : pointerSchema.safeParse(rest);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new CheckpointError(`invalid field '${issue.path.join('.')}': ${issue.message}`, file);
  }
  return format === CHECKPOINT_FORMAT
    ? { kind: 'checkpoint', meta: result.data as CheckpointMeta }
    : { kind: 'pointer', pointer: result.data as CheckpointPointer };
}

/**
 * Checks that a value is plain JSON that survives a round trip (finite numbers, strings, booleans, null,
 * arrays, plain objects; no cycles), so a resumed run sees exactly what was saved. Object keys whose
 * value is `undefined` are dropped, as JSON.stringify does (an optional config field left unset).
 * @throws CheckpointError naming the field (`what`) and the offending path.
 */
export function expectJson(value: unknown, what: string): JsonValue {
  return toJson(value, what, new Set());
}

function toJson(value: unknown, path: string, open: Set<object>): JsonValue {
  const reject = (reason: string): never => {
    throw new CheckpointError(`cannot save ${path}: ${reason}; a checkpoint holds plain JSON values (finite numbers, ` +
      'strings, booleans, null, arrays and plain objects)');
  };
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : reject(`${value} is not a finite number`);
  if (typeof value !== 'object') return reject(`a ${typeof value} is not JSON`);
  if (open.has(value)) return reject('the value contains itself (a cycle)');
  open.add(value);
  try {
    if (Array.isArray(value)) return value.map((item, index) => toJson(item, `${path}[${index}]`, open));
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) return reject(`a ${prototype?.constructor?.name ?? 'class'} instance is not JSON`);
    const result: { [key: string]: JsonValue } = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) result[key] = toJson(item, `${path}.${key}`, open);
    }
    return result;
  } finally {
    open.delete(value);
  }
}
