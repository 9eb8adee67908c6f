/**
 * The PyTorch reference the benchmarks compare against: which Python runs it, and a check made before a
 * benchmark starts, so that a missing package ends the run with one line naming the fix instead of a
 * traceback from a child process minutes in.
 */
import { spawnSync } from 'node:child_process';

/** The command that installs the reference (scripts/setup.sh; it also adds python3-onnx where Debian has it). */
export const SETUP_DEV_COMMAND = 'npm run setup -- --dev';
const SETUP_DEV_PACKAGES = 'python3-torch python3-torchvision';

/** Imports each module named in argv and prints the ones that fail to import, space-separated. */
const PROBE = [
  'import importlib, sys',
  'missing = []',
  'for name in sys.argv[1:]:',
  '    try:',
  '        importlib.import_module(name)',
  '    except ImportError:',
  '        missing.append(name)',
  "print(' '.join(missing))",
].join('\n');

/**
 * The Python that runs the PyTorch side: `CONTRASEG_PYTHON` if set, else /usr/bin/python3, where Debian's
 * python3-torch installs (a virtualenv's python3 on PATH would carry another PyTorch build).
 */
export function pythonExecutable(): string {
  return process.env.CONTRASEG_PYTHON ?? '/usr/bin/python3';
}

/**
 * Checks that `python` imports every module in `modules`. Returns null if it does, else one line (no
 * newline) saying what is missing and how to install it, prefixed with `who` ("contraseg bench").
 * Runs the interpreter once (importing torch takes a second or two).
 */
export function findMissingReference(who: string, modules: readonly string[], python = pythonExecutable()): string | null {
  const probe = spawnSync(python, ['-c', PROBE, ...modules], { encoding: 'utf8' });
  const fix = `run \`${SETUP_DEV_COMMAND}\` (installs ${SETUP_DEV_PACKAGES}), or set CONTRASEG_PYTHON to a python3 that has them`;
  if (probe.error !== undefined || probe.status !== 0) {
    const reason = probe.error?.message ?? lastLine(probe.stderr) ?? `exit code ${probe.status ?? probe.signal}`;
    return `${who}: PyTorch reference missing (${python} could not check for ${modules.join(', ')}: ${reason}): ${fix}`;
  }
  const missing = probe.stdout.trim().split(/\s+/).filter((name) => name !== '');
  if (missing.length === 0) return null;
  const noun = missing.length === 1 ? 'module' : 'modules';
  return `${who}: PyTorch reference missing (python3 ${noun} ${missing.join(', ')} in ${python}): ${fix}`;
}

/**
 * Ends the process (exit code 1, the one-line message on stderr) unless the PyTorch reference imports
 * `modules`. Call it first in a benchmark entry point that starts a Python side.
 */
export function requirePytorchReference(modules: readonly string[]): void {
  const message = findMissingReference('contraseg bench', modules);
  if (message === null) return;
  console.error(message);
  process.exit(1);
}

function lastLine(text: string | null): string | undefined {
  const lines = (text ?? '').trim().split('\n');
  const last = lines[lines.length - 1];
  return last === '' ? undefined : last;
}
