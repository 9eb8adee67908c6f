/**
 * Seeded input mutations for the file fuzzer (src/fuzz/run.ts): format-blind byte edits (bit flips, byte
 * insert/delete, truncation, chunk duplication, 32-bit integer overwrites) and the structural edits of
 * the formats contraseg reads (PNG chunks with their CRCs recomputed, so that the edit gets past the CRC
 * check; JPEG frame sizes; safetensors headers). Everything is a pure function of the Rng: a case is
 * reproduced from (seed, target, case number) alone.
 */
import { deflateSync } from 'node:zlib';
import { Rng } from '../augment/rng.js';

/** A mutated input and the name of the edit that made it (reported with failures). */
export interface Mutant {
  readonly kind: string;
  readonly bytes: Uint8Array;
}

/** Integers that break size arithmetic: zero, one, sign edges, 16/24/31/32-bit limits. */
export const INTERESTING_U32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0xffffff, 0x3fff * 0x3fff + 1, 0x7fffffff, 0x80000000, 0xffffffff];
/** Dimensions a header may claim: empty, huge, negative, fractional, past 2^53, not numbers. */
export const HUGE_DIMS: unknown[] = [0, -1, 1.5, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53, 2 ** 64, 1e308, Number.MAX_SAFE_INTEGER, '4', null, [], {}];

/** A random element of `items`. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.integer(0, items.length - 1)] as T;
}

function bitFlips(input: Uint8Array, rng: Rng): Uint8Array {
  const out = Uint8Array.from(input);
  const flips = rng.integer(1, 8);
  for (let i = 0; i < flips && out.length > 0; i++) out[rng.integer(0, out.length - 1)] ^= 1 << rng.integer(0, 7);
  return out;
}

function byteInsert(input: Uint8Array, rng: Rng): Uint8Array {
  const at = rng.integer(0, input.length);
  const inserted = Uint8Array.from({ length: rng.integer(1, 32) }, () => (rng.chance(0.5) ? rng.integer(0, 255) : pick(rng, [0, 0xff])));
  return concat([input.subarray(0, at), inserted, input.subarray(at)]);
}

function byteDelete(input: Uint8Array, rng: Rng): Uint8Array {
  if (input.length === 0) return input;
  const at = rng.integer(0, input.length - 1);
  const count = Math.min(input.length - at, rng.integer(1, 64));
  return concat([input.subarray(0, at), input.subarray(at + count)]);
}

function truncate(input: Uint8Array, rng: Rng): Uint8Array {
  // Mostly near the start (headers), sometimes anywhere.
  const length = rng.chance(0.5) ? rng.integer(0, Math.min(input.length, 64)) : rng.integer(0, input.length);
  return input.slice(0, length);
}

function duplicateChunk(input: Uint8Array, rng: Rng): Uint8Array {
  if (input.length < 2) return input;
  const from = rng.integer(0, input.length - 1);
  const piece = input.subarray(from, Math.min(input.length, from + rng.integer(1, 256)));
  const at = rng.integer(0, input.length);
  return concat([input.subarray(0, at), piece, input.subarray(at)]);
}

function integerOverwrite(input: Uint8Array, rng: Rng): Uint8Array {
  if (input.length < 4) return bitFlips(input, rng);
  const out = Uint8Array.from(input);
  const view = new DataView(out.buffer);
  const at = rng.integer(0, out.length - 4);
  view.setUint32(at, pick(rng, INTERESTING_U32) >>> 0, rng.chance(0.5));
  return out;
}

const BYTE_MUTATORS: [string, (input: Uint8Array, rng: Rng) => Uint8Array][] = [
  ['bit-flip', bitFlips], ['byte-insert', byteInsert], ['byte-delete', byteDelete], ['truncate', truncate],
  ['duplicate', duplicateChunk], ['int32-overwrite', integerOverwrite],
];

/** One format-blind edit of `input`, or two stacked (a fifth of the time). */
export function mutateBytes(input: Uint8Array, rng: Rng): Mutant {
  const [kind, mutate] = pick(rng, BYTE_MUTATORS);
  const bytes = mutate(input, rng);
  if (!rng.chance(0.2)) return { kind, bytes };
  const [second, again] = pick(rng, BYTE_MUTATORS);
  return { kind: `${kind}+${second}`, bytes: again(bytes, rng) };
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// ---- PNG ----------------------------------------------------------------------------------------------

interface PngChunk {
  type: string;
  body: Uint8Array;
}

const PNG_SIGNATURE = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (ISO-HDLC), as PNG chunks carry it. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Splits a well-formed PNG into chunks (seeds only: they are valid). */
export function parsePng(bytes: Uint8Array): PngChunk[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: PngChunk[] = [];
  for (let offset = 8; offset + 12 <= bytes.length;) {
    const length = view.getUint32(offset);
    chunks.push({ type: String.fromCharCode(...bytes.subarray(offset + 4, offset + 8)), body: bytes.slice(offset + 8, offset + 8 + length) });
    offset += 12 + length;
  }
  return chunks;
}

/** Serialises chunks with correct lengths and CRCs. */
export function buildPng(chunks: PngChunk[]): Uint8Array {
  const parts: Uint8Array[] = [PNG_SIGNATURE];
  for (const { type, body } of chunks) {
    const out = new Uint8Array(12 + body.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, body.length);
    for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
    out.set(body, 8);
    view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
    parts.push(out);
  }
  return concat(parts);
}

let bomb: Uint8Array | undefined;
/** 64 MiB of zeros, deflated (~64 KiB): image data that expands a thousandfold. */
function deflateBomb(): Uint8Array {
  bomb ??= deflateSync(Buffer.alloc(64 << 20));
  return bomb;
}

function editHeader(chunks: PngChunk[], rng: Rng): string {
  const header = chunks.find((chunk) => chunk.type === 'IHDR');
  if (header === undefined || header.body.length < 13) return 'png-no-ihdr';
  const view = new DataView(header.body.buffer, header.body.byteOffset, header.body.byteLength);
  switch (rng.integer(0, 4)) {
    case 0: view.setUint32(0, pick(rng, INTERESTING_U32)); return 'png-width';
    case 1: view.setUint32(4, pick(rng, INTERESTING_U32)); return 'png-height';
    case 2: header.body[8] = pick(rng, [0, 1, 2, 3, 4, 5, 7, 8, 16, 255]); return 'png-bit-depth';
    case 3: header.body[9] = pick(rng, [0, 1, 2, 3, 4, 6, 7, 255]); return 'png-colour-type';
    default: header.body[12] = rng.integer(0, 2); return 'png-interlace';
  }
}

/** A structural PNG edit; CRCs are recomputed so that the decoder sees the edit itself. */
export function mutatePng(seed: Uint8Array, rng: Rng): Mutant {
  const chunks = parsePng(seed);
  let kind: string;
  switch (rng.integer(0, 6)) {
    case 0: case 1: kind = editHeader(chunks, rng); break;
    case 2: {
      const data = chunks.find((chunk) => chunk.type === 'IDAT');
      if (data !== undefined) data.body = bitFlips(data.body, rng);
      kind = 'png-idat-flip';
      break;
    }
    case 3: {
      const data = chunks.find((chunk) => chunk.type === 'IDAT');
      if (data !== undefined) data.body = deflateBomb();
      kind = 'png-deflate-bomb';
      break;
    }
    case 4: {
      const index = rng.integer(0, chunks.length - 1);
      chunks.splice(index, 1);
      kind = 'png-drop-chunk';
      break;
    }
    case 5: {
      const palette = chunks.find((chunk) => chunk.type === 'PLTE');
      if (palette !== undefined) palette.body = palette.body.slice(0, rng.integer(0, palette.body.length));
      kind = 'png-palette-length';
      break;
    }
    default: {
      const data = chunks.find((chunk) => chunk.type === 'IDAT');
      if (data !== undefined) data.body = data.body.slice(0, rng.integer(0, data.body.length));
      kind = 'png-idat-truncate';
    }
  }
  return { kind, bytes: buildPng(chunks) };
}

// ---- JPEG ---------------------------------------------------------------------------------------------

/** A structural JPEG edit: the frame's height/width/components, or a cut inside the scan. */
export function mutateJpeg(seed: Uint8Array, rng: Rng): Mutant {
  const out = Uint8Array.from(seed);
  const view = new DataView(out.buffer);
  let frame = -1;
  for (let i = 2; i + 9 < out.length; i++) {
    if (out[i] === 0xff && (out[i + 1] === 0xc0 || out[i + 1] === 0xc2)) { frame = i; break; }
  }
  if (frame < 0 || rng.chance(0.25)) return { kind: 'jpeg-scan-cut', bytes: out.slice(0, rng.integer(Math.floor(out.length / 2), out.length)) };
  switch (rng.integer(0, 2)) {
    case 0: view.setUint16(frame + 5, pick(rng, [0, 1, 0xffff, 0x8000, 0x3fff])); return { kind: 'jpeg-height', bytes: out };
    case 1: view.setUint16(frame + 7, pick(rng, [0, 1, 0xffff, 0x8000, 0x3fff])); return { kind: 'jpeg-width', bytes: out };
    default: out[frame + 9] = pick(rng, [0, 2, 4, 255]); return { kind: 'jpeg-components', bytes: out };
  }
}

// ---- safetensors --------------------------------------------------------------------------------------

/** Splits safetensors bytes into its header object and data (seeds only). */
export function parseSafetensors(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = Number(view.getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + length)).toString('utf8')) as Record<string, unknown>;
  return { header, data: bytes.subarray(8 + length) };
}

/** Safetensors bytes from a header value (any JSON) and data; `claimedLength` overrides the length prefix. */
export function buildSafetensors(header: unknown, data: Uint8Array, claimedLength?: bigint): Uint8Array {
  const json = Buffer.from(JSON.stringify(header) ?? 'null', 'utf8');
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, claimedLength ?? BigInt(json.length), true);
  return concat([prefix, json, data]);
}

function editEntry(entry: Record<string, unknown>, rng: Rng): string {
  switch (rng.integer(0, 5)) {
    case 0: {
      // A huge shape with offsets that agree with it: the file claims terabytes it does not have.
      const shape = [2 ** 20, 2 ** 20, 2 ** rng.integer(0, 10)];
      const bytes = shape.reduce((product, dim) => product * dim, 4);
      entry.shape = shape;
      entry.dtype = 'F32';
      entry.data_offsets = [0, bytes];
      return 'safetensors-terabyte-tensor';
    }
    case 1: entry.shape = (entry.shape as unknown[]).map((dim) => (rng.chance(0.5) ? pick(rng, HUGE_DIMS) : dim)); return 'safetensors-shape';
    case 2: entry.dtype = pick(rng, ['F16', 'BF16', 'I8', 'U64', 'F32', 'BOOL', '', 7, null]); return 'safetensors-dtype';
    case 3: entry.data_offsets = [pick(rng, HUGE_DIMS), pick(rng, HUGE_DIMS)]; return 'safetensors-offsets';
    case 4: {
      const offsets = entry.data_offsets as number[];
      entry.data_offsets = [offsets[1], offsets[0]];
      return 'safetensors-offsets-swapped';
    }
    default: delete entry[pick(rng, ['dtype', 'shape', 'data_offsets'])]; return 'safetensors-missing-field';
  }
}

/** A structural safetensors edit: header fields, the header itself, or its length prefix. */
export function mutateSafetensors(seed: Uint8Array, rng: Rng): Mutant {
  const { header, data } = parseSafetensors(seed);
  const names = Object.keys(header).filter((name) => name !== '__metadata__');
  switch (rng.integer(0, 4)) {
    case 0: case 1: {
      const kind = editEntry(header[pick(rng, names)] as Record<string, unknown>, rng);
      return { kind, bytes: buildSafetensors(header, data) };
    }
    case 2: return { kind: 'safetensors-header-type', bytes: buildSafetensors(pick(rng, [null, 5, 'x', [], [1, 2], { a: null }, { a: 5 }]), data) };
    case 3: {
      header.__metadata__ = pick(rng, [null, 5, [], { key: 5 }, { key: { nested: 'x' } }, 'text']);
      return { kind: 'safetensors-metadata', bytes: buildSafetensors(header, data) };
    }
    default: {
      const length = pick(rng, [0n, 1n, 2n ** 32n, 2n ** 40n, 2n ** 63n, 2n ** 64n - 1n, BigInt(JSON.stringify(header).length + 1)]);
      return { kind: 'safetensors-length-prefix', bytes: buildSafetensors(header, data, length) };
    }
  }
}

// ---- ONNX (protobuf) ----------------------------------------------------------------------------------

/**
 * A protobuf edit: after a byte that reads as a length-delimited field tag (wire type 2), the length varint
 * is replaced by a huge one (2^32 - 1, 2^31, 2^28) or zero, so a nested message or tensor claims bytes the
 * file does not have. Half the time a format-blind edit instead.
 */
export function mutateProtobuf(seed: Uint8Array, rng: Rng): Mutant {
  if (rng.chance(0.5)) return mutateBytes(seed, rng);
  const tags: number[] = [];
  for (let i = 0; i + 1 < seed.length; i++) if (((seed[i] as number) & 7) === 2 && (seed[i] as number) >> 3 > 0 && (seed[i] as number) < 0x80) tags.push(i);
  if (tags.length === 0) return mutateBytes(seed, rng);
  const at = pick(rng, tags) + 1;
  let end = at;
  while (end < seed.length && ((seed[end] as number) & 0x80) !== 0) end++;
  const length = pick(rng, [[0xff, 0xff, 0xff, 0xff, 0x0f], [0x80, 0x80, 0x80, 0x80, 0x08], [0x80, 0x80, 0x80, 0x80, 0x01], [0x00]]);
  return { kind: 'onnx-length-varint', bytes: concat([seed.subarray(0, at), Uint8Array.from(length), seed.subarray(end + 1)]) };
}
