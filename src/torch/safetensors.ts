/**
 * safetensors files (https://github.com/huggingface/safetensors format): 8-byte little-endian header
 * length, a JSON header { name: { dtype, shape, data_offsets } , __metadata__?: { string: string } },
 * then the raw little-endian data. Readable by PyTorch users with `safetensors.torch.load_file`.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, rmSync } from 'node:fs';
import { tensor } from './creation.js';
import { describeArgument, expectTensor, type DType, type Tensor } from './tensor.js';
import { CheckpointError } from '../errors.js';
import { scope } from './scope.js';
import { native } from './native.js';

const DTYPE_TO_FILE: Record<DType, string> = { float32: 'F32', float64: 'F64', int64: 'I64', int32: 'I32', uint8: 'U8', bool: 'BOOL' };
const FILE_TO_DTYPE: Record<string, DType> = Object.fromEntries(Object.entries(DTYPE_TO_FILE).map(([dtype, name]) => [name, dtype as DType]));
const BYTES: Record<DType, number> = { float32: 4, float64: 8, int64: 8, int32: 4, uint8: 1, bool: 1 };

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/**
 * safetensors bytes in pieces: `header` (length prefix + JSON header) then `chunks`: the data of every
 * tensor, copied once into one ArrayBuffer (transferable to a worker; `reuse` it for the next encoding of
 * tensors of the same sizes). Their concatenation is the file; writing the pieces one after the other saves
 * a second copy of every tensor.
 */
export interface SafetensorsParts {
  header: Buffer;
  chunks: Uint8Array[];
  /** header.byteLength + the chunks' lengths: the file's size. */
  byteLength: number;
}

/** Options of encodeSafetensorsParts. */
export interface EncodeOptions {
  /**
   * A buffer to copy the data into if its size is exactly the data's (a previous encoding's
   * `chunks[0].buffer`, no longer in use); otherwise a new one is allocated. Checkpoints of one model
   * have the same size every time, so a writer reuses one buffer instead of allocating one per save.
   */
  readonly reuse?: ArrayBuffer;
}

/** Serialises named tensors (in the map's order) and string metadata to safetensors pieces (one copy of each tensor). */
export function encodeSafetensorsParts(tensors: Map<string, Tensor>, metadata: Record<string, string> = {}, options: EncodeOptions = {}): SafetensorsParts {
  if (!(tensors instanceof Map)) throw new CheckpointError(`encodeSafetensors: expected a Map of name -> Tensor, got ${describeArgument(tensors)}`);
  const header: Record<string, HeaderEntry | Record<string, string>> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const entries: [Tensor, number][] = [];
  let offset = 0;
  for (const [name, value] of tensors) {
    if (name === '__metadata__') throw new CheckpointError('a tensor cannot be named __metadata__');
    const checked = expectTensor(value, 'encodeSafetensors', `tensor '${name}'`);
    const bytes = checked.shape.reduce((product, size) => product * size, 1) * BYTES[checked.dtype];
    header[name] = { dtype: DTYPE_TO_FILE[checked.dtype], shape: checked.shape, data_offsets: [offset, offset + bytes] };
    entries.push([checked, offset]);
    offset += bytes;
  }
  const buffer = options.reuse?.byteLength === offset ? options.reuse : new ArrayBuffer(offset);
  const data = new Uint8Array(buffer);
  for (const [value, at] of entries) native.copyBytesInto(value.handle, data, at);
  const chunks = [data];
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // align the data to 8 bytes
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  const headerWithPrefix = Buffer.concat([prefix, headerBytes]);
  return { header: headerWithPrefix, chunks, byteLength: headerWithPrefix.byteLength + offset };
}

/** Serialises named tensors (in the map's order) and string metadata to safetensors bytes. */
export function encodeSafetensors(tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): Buffer {
  const { header, chunks } = encodeSafetensorsParts(tensors, metadata);
  return Buffer.concat([header, ...chunks]);
}

/** Parsed safetensors content. The tensors belong to the caller. */
export interface SafetensorsContent {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Parses safetensors bytes. `file` only names the source in errors. @throws CheckpointError if malformed. */
export function decodeSafetensors(bytes: Uint8Array, file?: string): SafetensorsContent {
  if (!(bytes instanceof Uint8Array)) throw new CheckpointError(`decodeSafetensors: expected the file's bytes (a Uint8Array or Buffer), got ${describeArgument(bytes)}`, file);
  if (bytes.byteLength < 8) throw new CheckpointError(`not a safetensors file: ${bytes.byteLength} bytes`, file);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.readBigUInt64LE(0));
  if (headerLength > bytes.byteLength - 8) throw new CheckpointError(`header length ${headerLength} exceeds the file size (truncated file?)`, file);
  let header: unknown;
  try {
    header = JSON.parse(view.subarray(8, 8 + headerLength).toString('utf8'));
  } catch (error) {
    throw new CheckpointError(`header is not valid JSON (${(error as Error).message})`, file);
  }
  if (!isRecord(header)) throw new CheckpointError(`header is ${describeJson(header)}, expected a JSON object of tensor entries`, file);
  const dataStart = 8 + headerLength;
  const metadata = checkMetadata(header.__metadata__, file);
  return scope(() => {
    const tensors = new Map<string, Tensor>();
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      tensors.set(name, decodeEntry(view, dataStart, name, checkEntry(name, raw, file), file));
    }
    return { tensors, metadata };
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeJson(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function checkMetadata(value: unknown, file?: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isRecord(value) || !Object.values(value).every((item) => typeof item === 'string')) {
    throw new CheckpointError('__metadata__ must be an object of string values', file);
  }
  return value as Record<string, string>;
}

const isOffset = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

// Every field is checked before anything is allocated: a header may claim any shape (a 1 TB tensor),
// and only offsets that lie inside the file are ever copied.
function checkEntry(name: string, raw: unknown, file?: string): HeaderEntry {
  const where = `tensor '${name}'`;
  if (!isRecord(raw)) throw new CheckpointError(`${where}: header entry is ${describeJson(raw)}, expected { dtype, shape, data_offsets }`, file);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') throw new CheckpointError(`${where}: dtype is ${describeJson(dtype)}, expected a string such as F32`, file);
  if (!Array.isArray(shape) || !shape.every(isOffset)) {
    throw new CheckpointError(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`, file);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isOffset) || offsets[0] > offsets[1]) {
    throw new CheckpointError(`${where}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] of integers with 0 <= begin <= end < 2^53`, file);
  }
  return { dtype, shape, data_offsets: [offsets[0], offsets[1]] };
}

function decodeEntry(view: Buffer, dataStart: number, name: string, entry: HeaderEntry, file?: string): Tensor {
  const dtype = FILE_TO_DTYPE[entry.dtype];
  if (dtype === undefined) throw new CheckpointError(`tensor '${name}' has unsupported dtype ${entry.dtype}; supported: ${Object.keys(FILE_TO_DTYPE).join(', ')}`, file);
  const [begin, end] = entry.data_offsets;
  // In BigInt: a claimed shape such as [2^40, 2^40] has more bytes than a double counts exactly.
  const count = entry.shape.reduce((product, dim) => product * BigInt(dim), 1n);
  if (BigInt(end - begin) !== count * BigInt(BYTES[dtype]) || dataStart + end > view.byteLength) {
    throw new CheckpointError(`tensor '${name}' has inconsistent offsets [${begin}, ${end}] for shape [${entry.shape.join(', ')}] ` +
      `(${count * BigInt(BYTES[dtype])} bytes of ${entry.dtype}; the file has ${view.byteLength - dataStart} data bytes; truncated file?)`, file);
  }
  const copy = new Uint8Array(end - begin);
  copy.set(view.subarray(dataStart + begin, dataStart + end));
  const buffer = copy.buffer;
  switch (dtype) {
    case 'float32': return tensor(new Float32Array(buffer), entry.shape);
    case 'float64': return tensor(new Float64Array(buffer), entry.shape);
    case 'int64': return tensor(new BigInt64Array(buffer), entry.shape);
    case 'int32': return tensor(new Int32Array(buffer), entry.shape);
    case 'uint8': return tensor(copy, entry.shape);
    case 'bool': return tensor(copy, entry.shape, { dtype: 'bool' });
  }
}

/**
 * Writes named tensors to `file` atomically (temp file, fsync, rename): a crash leaves either the old
 * file or the new one, never a torn one.
 */
export function saveSafetensors(file: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): void {
  const bytes = encodeSafetensors(tensors, metadata);
  const temp = `${file}.tmp-${process.pid}`;
  try {
    const fd = openSync(temp, 'w');
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw new CheckpointError(`cannot write (${(error as Error).message})`, file);
  }
}

/** Reads a safetensors file. The tensors belong to the caller. @throws CheckpointError. */
export function loadSafetensors(file: string): SafetensorsContent {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new CheckpointError(`cannot read (${(error as Error).message})`, file);
  }
  return decodeSafetensors(bytes, file);
}
