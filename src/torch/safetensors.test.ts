import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { decodeSafetensors, encodeSafetensors, encodeSafetensorsParts, loadSafetensors, saveSafetensors } from './safetensors.js';
import { native } from './native.js';
import { randn, tensor } from './creation.js';
import { liveTensorCount, scope } from './scope.js';
import type { Tensor } from './tensor.js';
import { assertClose } from './testing.js';
import { CheckpointError, EngineError } from '../errors.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

test('reads a file written by an independent writer (scripts/fixtures/safetensors_ref.py, from PyTorch tensors)', () => {
  const expected = JSON.parse(readFileSync(join(fixtures, 'reference.safetensors.json'), 'utf8')) as Record<string, { dtype: string; shape: number[]; data: (number | boolean)[] }>;
  const { tensors, metadata } = loadSafetensors(join(fixtures, 'reference.safetensors'));
  assert.deepEqual(metadata, { format: 'pt', note: 'written by safetensors_ref.py' });
  assert.deepEqual([...tensors.keys()].sort(), Object.keys(expected).sort());
  const dtypes: Record<string, string> = { F32: 'float32', F64: 'float64', I64: 'int64', I32: 'int32', U8: 'uint8', BOOL: 'bool' };
  for (const [name, spec] of Object.entries(expected)) {
    const value = tensors.get(name) as Tensor;
    assert.equal(value.dtype, dtypes[spec.dtype], name);
    assert.deepEqual(value.shape, spec.shape, name);
    assert.deepEqual(value.toArray(), spec.data.map(Number), name);
    value.dispose();
  }
});

test('save -> load round trip keeps names, order, dtypes, shapes and values exactly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contraseg-st-'));
  const file = join(dir, 'weights.safetensors');
  scope(() => {
    const original = new Map<string, Tensor>([
      ['b.weight', randn([3, 2, 2])],
      ['a.counter', tensor(new BigInt64Array([9007199254740993n]), [])],
      ['mask', tensor(new Uint8Array([1, 0, 1]), [3], { dtype: 'bool' })],
      ['empty', tensor(new Float32Array(0), [0, 4])],
    ]);
    saveSafetensors(file, original, { epoch: '3' });
    const { tensors, metadata } = loadSafetensors(file);
    assert.deepEqual(metadata, { epoch: '3' });
    assert.deepEqual([...tensors.keys()], [...original.keys()]);
    for (const [name, value] of original) {
      const loaded = tensors.get(name) as Tensor;
      assert.equal(loaded.dtype, value.dtype);
      assert.deepEqual(loaded.shape, value.shape);
      assert.deepEqual(loaded.toTypedArray(), value.toTypedArray());
    }
  });
  assert.deepEqual(readdirSync(dir), ['weights.safetensors'], 'no temporary file is left behind');
});

test('the header is 8-byte aligned JSON that follows the spec', () => {
  scope(() => {
    const bytes = encodeSafetensors(new Map([['w', tensor([1, 2, 3, 4], [2, 2])]]), { k: 'v' });
    const length = Number(bytes.readBigUInt64LE(0));
    assert.equal((8 + length) % 8, 0);
    const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
    assert.deepEqual(header, { __metadata__: { k: 'v' }, w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } });
    assertClose(new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + length, bytes.byteOffset + 8 + length + 16)), [1, 2, 3, 4]);
  });
});

test('a file contraseg writes is readable from PyTorch (skipped without Debian python3-torch)', (t) => {
  if (!existsSync('/usr/bin/python3') || spawnFails()) return t.skip('no /usr/bin/python3 with torch');
  const dir = mkdtempSync(join(tmpdir(), 'contraseg-st-'));
  const file = join(dir, 'w.safetensors');
  scope(() => saveSafetensors(file, new Map([['w', tensor([1.5, -2, 4], [3])], ['n', tensor(new Int32Array([7, 8]), [2])]])));
  const out = execFileSync('/usr/bin/python3', [join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'fixtures', 'safetensors_ref.py'), '--read', file], { encoding: 'utf8' });
  assert.match(out, /^w torch\.float32 \[3\] 3\.5$/m);
  assert.match(out, /^n torch\.int32 \[2\] 15\.0$/m);
});

function spawnFails(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
}

test('truncated and malformed files raise CheckpointError naming the file, leaking nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contraseg-st-'));
  const good = scope(() => encodeSafetensors(new Map([['w', randn([4, 4])]])));
  const cases: [string, Buffer, RegExp][] = [
    ['tiny.safetensors', Buffer.from([1, 2]), /not a safetensors file/],
    ['truncated.safetensors', good.subarray(0, good.length - 10), /inconsistent offsets.*truncated/],
    ['badjson.safetensors', Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]), /not valid JSON/],
    ['huge-header.safetensors', Buffer.from([255, 255, 0, 0, 0, 0, 0, 0, 0]), /exceeds the file size/],
  ];
  const before = liveTensorCount();
  for (const [name, bytes, pattern] of cases) {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    assert.throws(() => loadSafetensors(file), (e: unknown) => e instanceof CheckpointError && pattern.test(e.message) && e.message.includes(file), name);
  }
  assert.throws(() => loadSafetensors(join(dir, 'missing.safetensors')), (e: unknown) => e instanceof CheckpointError && /cannot read/.test(e.message));
  const f16Header = Buffer.from('{"w":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}');
  const f16Length = Buffer.alloc(8);
  f16Length.writeBigUInt64LE(BigInt(f16Header.length));
  assert.throws(() => decodeSafetensors(Buffer.concat([f16Length, f16Header, Buffer.from([0, 60])])),
    (e: unknown) => e instanceof CheckpointError && /unsupported dtype F16/.test(e.message));
  assert.equal(liveTensorCount(), before);
});

test('encodeSafetensorsParts copies into a reused buffer of the right size, overwriting every byte, and never into a wrong-sized one', () => {
  scope(() => {
    const tensors = new Map<string, Tensor>([
      ['w', randn([3, 5])], ['t', randn([4, 6]).transpose(0, 1)], ['i', tensor([7, -8, 9], [3], { dtype: 'int64' })], ['b', tensor([1, 0, 1], [3], { dtype: 'bool' })],
    ]);
    const fresh = encodeSafetensorsParts(tensors, { step: '1' });
    assert.equal(fresh.chunks.length, 1);
    const expected = Buffer.concat([fresh.header, ...fresh.chunks]);
    // The independent oracle of the data bytes: each tensor's own toTypedArray(), in order.
    const oracle = Buffer.concat([...tensors.values()].map((value) => { const data = value.toTypedArray(); return new Uint8Array(data.buffer, data.byteOffset, data.byteLength); }));
    assert.ok(Buffer.from(fresh.chunks[0] as Uint8Array).equals(oracle), 'data bytes = each tensor\'s values, row-major, in map order');
    const spare = new ArrayBuffer(oracle.byteLength);
    new Uint8Array(spare).fill(0xab);
    const reused = encodeSafetensorsParts(tensors, { step: '1' }, { reuse: spare });
    assert.equal((reused.chunks[0] as Uint8Array).buffer, spare, 'the spare buffer is used');
    assert.ok(Buffer.concat([reused.header, ...reused.chunks]).equals(expected), 'the same file bytes as a fresh encoding');
    const small = new ArrayBuffer(oracle.byteLength - 1);
    const notReused = encodeSafetensorsParts(tensors, { step: '1' }, { reuse: small });
    assert.notEqual((notReused.chunks[0] as Uint8Array).buffer, small);
    assert.ok(Buffer.concat([notReused.header, ...notReused.chunks]).equals(expected));
  });
});

test('native copyBytesInto: bounds, target type and offset are checked; a typed error, no write outside the target', () => {
  scope(() => {
    const value = tensor([1, 2, 3, 4]); // 16 bytes
    const target = new Uint8Array(20).fill(0xee);
    assert.equal(native.copyBytesInto(value.handle, target.subarray(2, 18), 0), 16);
    assert.deepEqual([...target.subarray(0, 2)], [0xee, 0xee], 'a view\'s offset is honoured');
    assert.deepEqual([...target.subarray(18)], [0xee, 0xee]);
    assert.deepEqual([...new Float32Array(target.slice(2, 18).buffer)], [1, 2, 3, 4]);
    for (const [offset, why] of [[5, 'does not fit'], [-1, 'negative'], [0.5, 'fractional'], [Number.NaN, 'NaN'], [1e30, 'huge'], [Infinity, 'infinite']] as const) {
      assert.throws(() => native.copyBytesInto(value.handle, new Uint8Array(20), offset), EngineError, `offset ${offset} (${why})`);
    }
    assert.throws(() => native.copyBytesInto(value.handle, new Uint8Array(15), 0), /copyBytesInto: 16 bytes do not fit at offset 0 of a 15-byte target/);
    assert.throws(() => native.copyBytesInto(value.handle, new Float32Array(8) as unknown as Uint8Array, 0), /expected a Uint8Array/);
    assert.throws(() => native.copyBytesInto(value.handle, new Uint8Array(16), '0' as unknown as number), /expected a byte offset/);
  });
});
