import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtureImage, temporaryFolder, writeCamVidFixture, writeFolderFixture } from '../data/fixtures.js';
import { ConfigError } from '../errors.js';
import { EXIT_CODES, parseCommand } from './main.js';
import { cli } from './testing.js';

const folder = await temporaryFolder('contraseg-cli-');
after(() => folder.remove());
const camvid = join(folder.path, 'camvid');
// a: 8x4, blocks 0 | 11 -> 16 Sky + 16 void; b: 4x8 all Road
await writeCamVidFixture(camvid, { train: [fixtureImage('a', 8, 4, [0, 11]), fixtureImage('b', 4, 8, [3])] }, { listPrefix: '/SegNet/CamVid/' });


test('info --json prints one JSON object with images, classes and ignoreFraction (hand-counted)', async () => {
  const { code, stdout, stderr } = await cli('info', '--dataset', 'camvid', '--root', camvid, '--split', 'train', '--json');
  assert.equal(stderr, '');
  assert.equal(code, 0);
  assert.equal(stdout.trim().split('\n').length, 1);
  const report = JSON.parse(stdout) as { images: number; classes: { name: string; id: number; fraction: number }[]; ignoreFraction: number };
  assert.equal(report.images, 2);
  assert.equal(report.classes.length, 11);
  assert.deepEqual(report.classes[0], { name: 'Sky', id: 0, fraction: 0.25, pixels: 16 });
  assert.equal(report.classes[3]?.fraction, 0.5);
  assert.equal(report.ignoreFraction, 0.25);
});

test('info prints a table by default; folder datasets need no split', async () => {
  const { code, stdout } = await cli('info', '--dataset', 'camvid', '--root', camvid, '--split', 'train');
  assert.equal(code, 0);
  assert.match(stdout, /camvid train .*: 2 images/);
  assert.match(stdout, /sizes \(WxH\): 8x4 \(1\), 4x8 \(1\)/);
  assert.match(stdout, /Road\s+3\s+32\s+50\.00%/);
  assert.match(stdout, /ignore\s+255\s+16\s+25\.00%/);
  const plain = join(folder.path, 'plain');
  await writeFolderFixture(plain, [fixtureImage('x', 4, 4, [1])], ['bg', 'fg']);
  const folderRun = await cli('info', '--dataset', 'folder', '--root', plain, '--json');
  assert.equal(folderRun.code, 0, folderRun.stderr);
  assert.equal((JSON.parse(folderRun.stdout) as { classes: { fraction: number }[] }).classes[1]?.fraction, 1);
});

test('bad options exit 2 with a message naming the option, no stack', async () => {
  const unknownKind = await cli('info', '--dataset', 'kitti', '--root', camvid, '--split', 'train');
  assert.equal(unknownKind.code, EXIT_CODES.CONFIG);
  assert.match(unknownKind.stderr, /^contraseg: --dataset: expected one of camvid, voc, cityscapes, folder\. See: contraseg info --help\n$/);
  const noSplit = await cli('info', '--dataset', 'voc', '--root', camvid);
  assert.match(noSplit.stderr, /--split: required for this dataset/);
  const unknownOption = await cli('info', '--dataset', 'camvid', '--root', camvid, '--split', 'train', '--colour');
  assert.equal(unknownOption.code, 2);
  assert.match(unknownOption.stderr, /Unknown option '--colour'\. See: contraseg info --help/);
  const unknownCommand = await cli('pretrian');
  assert.equal(unknownCommand.code, 2);
  assert.match(unknownCommand.stderr, /unknown command "pretrian"/);
  for (const run of [unknownKind, noSplit, unknownOption, unknownCommand]) assert.doesNotMatch(run.stderr, /\n\s+at /);
  assert.throws(() => parseCommand(['info', '--root']), ConfigError);
});

test('dataset errors exit 3 naming the file', async () => {
  const { code, stderr } = await cli('info', '--dataset', 'camvid', '--root', join(folder.path, 'nowhere'), '--split', 'train');
  assert.equal(code, EXIT_CODES.DATASET);
  assert.match(stderr, /^contraseg: .*nowhere: CamVid split "train" not found/);
  assert.doesNotMatch(stderr, /\n\s+at /);
});

test('help texts', async () => {
  assert.match((await cli()).stdout, /usage: contraseg <command>/);
  assert.match((await cli('info', '--help')).stdout, /usage: contraseg info --dataset <camvid\|voc\|cityscapes\|folder>/);
});

test('the script itself: exit status and complete stdout through a pipe', () => {
  const repo = fileURLToPath(new URL('../..', import.meta.url));
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const ok = spawnSync(process.execPath, ['--import', 'tsx', main, 'info', '--dataset', 'camvid', '--root', camvid, '--split', 'train', '--json'],
    { cwd: repo, encoding: 'utf8', timeout: 30_000 });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { images: number }).images, 2);
  const bad = spawnSync(process.execPath, ['--import', 'tsx', main, 'info', '--dataset', 'camvid'], { cwd: repo, encoding: 'utf8', timeout: 30_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--root: required/);
});
