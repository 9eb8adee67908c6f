// native/find-libtorch.cjs: the build's search for libtorch ($LIBTORCH, pip's PyTorch, Debian's libtorch-dev).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'find-libtorch.cjs');

function find(query: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [script, query], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr };
}

test('LIBTORCH pointing at a directory with include/ and lib/ wins', () => {
  const root = mkdtempSync(join(tmpdir(), 'libtorch-'));
  mkdirSync(join(root, 'include', 'ATen'), { recursive: true });
  mkdirSync(join(root, 'lib'));
  writeFileSync(join(root, 'include', 'ATen', 'ATen.h'), '');
  writeFileSync(join(root, 'lib', 'libtorch_cpu.so'), '');
  assert.equal(find('libdir', { LIBTORCH: root }).stdout, join(root, 'lib'));
  assert.equal(find('include', { LIBTORCH: root }).stdout, `${join(root, 'include')} ${join(root, 'include', 'torch', 'csrc', 'api', 'include')}`);
});

test('a LIBTORCH without libtorch fails with one message naming the three ways', () => {
  const result = find('libdir', { LIBTORCH: mkdtempSync(join(tmpdir(), 'empty-')) });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /does not hold include\/ATen\/ATen\.h and lib\/libtorch_cpu\.so/);
  assert.match(result.stderr, /1\. LIBTORCH=.*\n.*2\. a pip-installed PyTorch.*\n.*3\. Debian\/Ubuntu: apt-get install libtorch-dev libopenblas0-pthread/);
});

test('without LIBTORCH the system install is found here (Debian libtorch-dev)', () => {
  const env: Record<string, string> = { LIBTORCH: '' };
  assert.equal(find('libdir', env).status, 0);
  assert.match(find('include', env).stdout, /ATen|include/);
});
