// Locates libtorch for node-gyp. Order: $LIBTORCH, a pip-installed PyTorch, Debian's system install.
// Usage (from binding.gyp): node find-libtorch.cjs include|libdir|rpath
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

function hasLibtorch(root, libdir) {
  return fs.existsSync(path.join(root, 'include', 'ATen', 'ATen.h')) &&
    fs.existsSync(path.join(libdir, 'libtorch_cpu.so'));
}

function fromEnv() {
  const root = process.env.LIBTORCH;
  if (!root) return null;
  if (!hasLibtorch(root, path.join(root, 'lib'))) {
    fail(`LIBTORCH=${root} does not hold include/ATen/ATen.h and lib/libtorch_cpu.so.`);
  }
  return { includes: [path.join(root, 'include'), path.join(root, 'include', 'torch', 'csrc', 'api', 'include')], libdir: path.join(root, 'lib') };
}

function fromPip() {
  for (const python of ['python3', 'python']) {
    try {
      const root = execFileSync(python, ['-c', 'import torch, os; print(os.path.dirname(torch.__file__))'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      // Debian's python3-torch points at /usr/lib/python3/dist-packages/torch without headers: skip it.
      if (root && hasLibtorch(root, path.join(root, 'lib'))) {
        return { includes: [path.join(root, 'include'), path.join(root, 'include', 'torch', 'csrc', 'api', 'include')], libdir: path.join(root, 'lib') };
      }
    } catch { /* no such python or no torch: try the next way */ }
  }
  return null;
}

function fromSystem() {
  const libdir = '/usr/lib/x86_64-linux-gnu';
  if (hasLibtorch('/usr', libdir)) {
    return { includes: ['/usr/include', '/usr/include/torch/csrc/api/include'], libdir };
  }
  return null;
}

function fail(why) {
  process.stderr.write(`contraseg: libtorch not found. ${why}\n` +
    'Provide it one of three ways:\n' +
    '  1. LIBTORCH=/path/to/libtorch (a directory with include/ and lib/, e.g. the unzipped C++ distribution)\n' +
    '  2. a pip-installed PyTorch: python3 -m pip install torch\n' +
    '  3. Debian/Ubuntu: apt-get install libtorch-dev libopenblas0-pthread\n');
  process.exit(1);
}

const found = fromEnv() ?? fromPip() ?? fromSystem();
if (!found) fail('Looked at $LIBTORCH, pip (python3 -c "import torch") and /usr (Debian libtorch-dev).');
const what = process.argv[2];
if (what === 'include') console.log(found.includes.join(' '));
else if (what === 'libdir') console.log(found.libdir);
else fail(`unknown query ${what}`);
