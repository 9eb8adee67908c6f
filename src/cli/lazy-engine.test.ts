/**
 * Parsing a command line must not load the engine: --help, a bad flag or a bad config should answer at once,
 * and on a machine without libtorch. Each case runs in a fresh Node process, whose report lists the shared
 * objects it has loaded; the addon's file (contraseg_native.node) must not be among them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));

/** Shared objects loaded by a fresh process after it has run `script` (an ES module body). */
function sharedObjectsAfter(script: string): string[] {
  const body = `${script}\nprocess.stdout.write(JSON.stringify(process.report.getReport().sharedObjects));`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', body], { cwd: repo, encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as string[];
}

const addonLoaded = (objects: readonly string[]): boolean => objects.some((file) => file.endsWith('contraseg_native.node'));

test('the probe can see the addon: importing the engine lists contraseg_native.node', () => {
  assert.ok(addonLoaded(sharedObjectsAfter("await import('./src/torch/native.ts');")));
});

test('parsing every command, and its --help, leaves the engine unloaded', () => {
  const script = `
const { parseCommand, runCommand } = await import('./src/cli/main.ts');
const quiet = { stdout: () => true, stderr: () => true, isTTY: false };
for (const argv of [['--help'], ['train', '--help'], ['sweep', '--help'], ['eval', '--help'], ['predict', '--help'], ['export', '--help'], ['serve', '--help']]) {
  await runCommand(parseCommand(argv), quiet);
}
parseCommand(['train', '--preset', 'camvid-quick', '--out', 'runs/x']);
parseCommand(['sweep', '--preset', 'camvid-sweep', '--out', 'runs/y']);
parseCommand(['export', '--run', 'runs/x', '--out', 'x.onnx']);
parseCommand(['eval', '--run', 'runs/x']);
for (const bad of [['train', '--preset', 'nope', '--out', 'o'], ['sweep', '--jobs', '0', '--preset', 'camvid-sweep', '--out', 'o']]) {
  try { parseCommand(bad); throw new Error('accepted ' + bad.join(' ')); } catch (error) { if (error.code !== 'CONFIG') throw error; }
}`;
  const objects = sharedObjectsAfter(script);
  assert.equal(addonLoaded(objects), false, `loaded: ${objects.filter((file) => file.includes('contraseg') || file.includes('torch')).join(', ')}`);
});
