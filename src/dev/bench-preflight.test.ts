// The benchmarks' PyTorch-reference check (bench/lib/pytorch-reference.ts) and the guard of `npm run
// fixtures`: on a machine without python3-torch / python3-torchvision each ends with one line naming
// `npm run setup -- --dev`, exit code 1, no traceback. Lives under src/ because npm test runs src/**/*.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findMissingReference } from '../../bench/lib/pytorch-reference.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIX = 'run `npm run setup -- --dev` (installs python3-torch python3-torchvision)';
const hasPython = existsSync('/usr/bin/python3');

/** A python3 that starts but sees no installed packages (-S: no site, so no dist-packages). */
function pythonWithoutPackages(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'contraseg-python-')), 'python3');
  writeFileSync(file, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n');
  chmodSync(file, 0o755);
  return file;
}

test('a python that imports every module passes the check', () => {
  assert.equal(findMissingReference('contraseg bench', ['torch', 'torchvision'], '/bin/true'), null);
});

test('a python that cannot run is one line naming it and the setup command', () => {
  for (const python of ['/bin/false', '/nonexistent/python3']) {
    const message = findMissingReference('contraseg bench', ['torch', 'torchvision'], python);
    assert.ok(message !== null, python);
    assert.match(message, new RegExp(`^contraseg bench: PyTorch reference missing \\(${python} could not check for torch, torchvision: `));
    assert.ok(message.includes(FIX), message);
    assert.ok(!message.includes('\n'), message);
  }
});

test('missing modules are named one by one (skipped without /usr/bin/python3)', (t) => {
  if (!hasPython) return t.skip('no /usr/bin/python3');
  const python = pythonWithoutPackages();
  assert.equal(findMissingReference('contraseg bench', ['torch', 'torchvision', 'json'], python),
    `contraseg bench: PyTorch reference missing (python3 modules torch, torchvision in ${python}): ${FIX}, ` +
    'or set CONTRASEG_PYTHON to a python3 that has them');
  assert.match(findMissingReference('contraseg bench', ['json', 'contraseg_no_such_module'], '/usr/bin/python3') ?? '',
    /\(python3 module contraseg_no_such_module in \/usr\/bin\/python3\)/);
});

test('every benchmark that starts PyTorch stops before it with one line and exit code 1', () => {
  for (const bench of ['train-step', 'deeplab-step', 'contrastive-loss']) {
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', `${bench}.ts`)],
      { cwd: root, encoding: 'utf8', env: { ...process.env, CONTRASEG_PYTHON: '/bin/false' } });
    assert.equal(run.status, 1, `${bench}: ${run.stderr}`);
    assert.equal(run.stdout, '', bench);
    const lines = run.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${bench}: ${run.stderr}`);
    assert.match(lines[0], /^contraseg bench: PyTorch reference missing \(\/bin\/false could not check for torch, /);
    assert.ok(lines[0].includes(FIX), lines[0]);
  }
});

test('npm run fixtures without PyTorch is one line and exit code 1 (skipped without /usr/bin/python3)', (t) => {
  if (!hasPython) return t.skip('no /usr/bin/python3');
  const run = spawnSync('/usr/bin/python3', ['-S', join(root, 'scripts', 'fixtures', 'generate.py')], { encoding: 'utf8' });
  assert.equal(run.status, 1, run.stderr);
  assert.equal(run.stdout, '');
  assert.equal(run.stderr, 'contraseg fixtures: PyTorch reference missing (python3 modules torch, torchvision, numpy in ' +
    `/usr/bin/python3): ${FIX}\n`);
});
