import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporaryFolder, writeTinyCamVid } from '../data/fixtures.js';
import { decodePngValues } from '../data/png.js';
import { EXIT_CODES } from './main.js';
import { cli } from './testing.js';

const folder = await temporaryFolder('contraseg-pipeline-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
await writeTinyCamVid(root);


const tiny = ['--dataset', 'camvid', '--root', root, '--labelled', '3', '--batch-size', '4', '--crop', '32', '--width', '0.0625',
  '--pretrain-steps', '3', '--finetune-steps', '3', '--workers', '1', '--threads', '1'];

test('train -> eval -> predict on a tiny dataset: run-dir layout, summary vs eval, masks at native size', async () => {
  const runDir = join(folder.path, 'run');
  const trained = await cli('train', ...tiny, '--baseline', '--out', runDir, '--json');
  assert.equal(trained.code, 0, trained.stderr);
  for (const file of ['config.json', 'split.txt', 'metrics.jsonl', 'summary.json', 'curves.svg', 'baseline/summary.json', 'checkpoints/finetune.json', 'checkpoints/best.json']) {
    assert.ok(existsSync(join(runDir, file)), file);
  }
  assert.equal(readFileSync(join(runDir, 'split.txt'), 'utf8').trim().split('\n').length, 3);
  const report = JSON.parse(trained.stdout) as { runs: Record<string, { test: { mIoU: number; images: number; confusion: number[][] } }> };
  assert.deepEqual(Object.keys(report.runs), ['within', 'ce']);
  assert.equal(report.runs.within?.test.images, 2);
  assert.match(trained.stderr, /\[within\] pretrain 3\/3 loss/);
  assert.match(trained.stderr, /\[ce baseline\] finetune 6\/6 loss/); // the baseline gets pretrain + finetune steps

  const evaluated = await cli('eval', '--run', runDir, '--json');
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const evaluation = JSON.parse(evaluated.stdout) as { confusion: number[][] };
  assert.deepEqual(evaluation.confusion, report.runs.within?.test.confusion); // same weights, same images: same counts

  const out = join(folder.path, 'masks');
  const predicted = await cli('predict', '--run', runDir, '--out', out, join(root, 'test'));
  assert.equal(predicted.code, 0, predicted.stderr);
  const mask = decodePngValues(readFileSync(join(out, 'x0.png')), 'x0.png');
  assert.deepEqual([mask?.width, mask?.height], [37, 29]);
  assert.ok(mask?.values.every((value) => value < 11));
  assert.ok(existsSync(join(out, 'x1-overlay.png')));
  // the confusion matrix of eval counts exactly the predicted masks: its column sums for x0 + x1 cover every non-void pixel
  const counted = evaluation.confusion.flat().reduce((sum, value) => sum + value, 0);
  assert.ok(counted > 0 && counted <= 37 * 29 + 41 * 27);
});

test('--logit-adjustment: eval of a plain run with tau 1 counts what a run trained with --logit-adjustment 1 tests; bad values exit 2', async () => {
  const ce = [...tiny, '--method', 'ce', '--json'];
  const plainDir = join(folder.path, 'la-plain');
  const adjustedDir = join(folder.path, 'la-adjusted');
  assert.equal((await cli('train', ...ce, '--out', plainDir)).code, 0);
  const adjusted = await cli('train', ...ce, '--logit-adjustment', '1', '--out', adjustedDir);
  assert.equal(adjusted.code, 0, adjusted.stderr);
  const report = JSON.parse(adjusted.stdout) as { runs: Record<string, { test: { confusion: number[][] } }> };
  const evaluated = await cli('eval', '--run', plainDir, '--logit-adjustment', '1', '--json');
  assert.equal(evaluated.code, 0, evaluated.stderr);
  assert.match(evaluated.stderr, /logit adjustment tau 1\)/);
  assert.deepEqual((JSON.parse(evaluated.stdout) as { confusion: number[][] }).confusion, report.runs.ce?.test.confusion); // training ignores tau
  const exported = await cli('export', '--run', adjustedDir, '--out', join(folder.path, 'la.onnx'));
  assert.equal(exported.code, 0, exported.stderr);
  assert.match(exported.stderr, /logit adjustment tau 1\)/);
  for (const bad of [['eval', '--run', plainDir, '--logit-adjustment', '-1'], ['eval', '--run', plainDir, '--logit-adjustment', 'x'],
    ['predict', '--model', join(folder.path, 'la.onnx'), '--logit-adjustment', '1', '--out', folder.path, root]]) {
    const run = await cli(...bad);
    assert.equal(run.code, EXIT_CODES.CONFIG, run.stderr);
    assert.match(run.stderr, /--logit-adjustment/);
  }
});

test('a run directory is never overwritten; --resume of a finished run does no step again', async () => {
  const runDir = join(folder.path, 'once');
  assert.equal((await cli('train', ...tiny, '--no-test', '--out', runDir)).code, 0);
  const again = await cli('train', ...tiny, '--out', runDir);
  assert.equal(again.code, EXIT_CODES.CONFIG);
  assert.match(again.stderr, /already holds a run; continue it with --resume/);
  const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8');
  const resumed = await cli('train', '--resume', runDir);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"kind":"step"')).length,
    lines.split('\n').filter((l) => l.includes('"kind":"step"')).length);
});

test('config errors name the offending key and the allowed values; config files are YAML or JSON', async () => {
  const unknown = await cli('train', ...tiny, '--set', 'pretrain.temprature=0.1');
  assert.equal(unknown.code, EXIT_CODES.CONFIG);
  assert.match(unknown.stderr, /pretrain: unknown key "temprature"/);
  const badLoss = await cli('train', ...tiny, '--set', 'pretrain.loss=pixel');
  assert.match(badLoss.stderr, /pretrain\.loss: got "pixel", allowed: "within", "cross", "batch", "official"/);
  const badMethod = await cli('train', ...tiny, '--method', 'simclr');
  assert.match(badMethod.stderr, /--method.*simclr.*Allowed choices are ce, within, cross, batch, official/);
  const negative = await cli('train', ...tiny, '--pretrain-steps', '-3');
  assert.match(negative.stderr, /pretrain\.steps: Number must be greater than or equal to 0/);
  const preset = await cli('train', '--preset', 'camvid-huge');
  assert.match(preset.stderr, /unknown preset "camvid-huge"; allowed: camvid-quick, camvid, voc, cityscapes/);
  const file = join(folder.path, 'run.yaml');
  writeFileSync(file, 'data:\n  kind: camvid\n  root: /nowhere\nmodel:\n  widthMultipler: 0.5\n');
  const fromFile = await cli('train', '--config', file);
  assert.match(fromFile.stderr, new RegExp(`invalid configuration \\(${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\+ flags\\):\\n  model: unknown key "widthMultipler"`));
  const noData = await cli('train');
  assert.match(noData.stderr, /no dataset: give --preset/);
});

test('every command has --help with an example', async () => {
  for (const command of ['train', 'pretrain', 'finetune', 'eval', 'predict']) {
    const help = await cli(command, '--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, new RegExp(`Usage: ${command} `));
    assert.match(help.stdout, /Examples?:\n  contraseg /);
  }
  assert.match((await cli('--help')).stdout, /contraseg train --preset camvid-quick/);
});

test('pretrain, then finetune --from it, equals the stages of train', async () => {
  const stage1 = join(folder.path, 'stage1');
  const pre = await cli('pretrain', ...tiny, '--out', stage1);
  assert.equal(pre.code, 0, pre.stderr);
  assert.match(pre.stdout, /next: contraseg finetune --from/);
  const stage2 = join(folder.path, 'stage2');
  const fine = await cli('finetune', '--from', stage1, '--out', stage2, '--json');
  assert.equal(fine.code, 0, fine.stderr);
  const both = join(folder.path, 'both');
  const whole = await cli('train', ...tiny, '--out', both, '--json');
  const testOf = (stdout: string) => (JSON.parse(stdout) as { runs: Record<string, { test: { confusion: number[][] } }> }).runs.within?.test.confusion;
  assert.deepEqual(testOf(fine.stdout), testOf(whole.stdout));
  const missing = await cli('finetune', ...tiny, '--out', join(folder.path, 'x'));
  assert.match(missing.stderr, /finetune needs --from/);
});
