/**
 * `contraseg export` and `contraseg predict --model`: a tiny trained run exported to ONNX, its masks through
 * onnxruntime-node equal to the libtorch path's at sizes no stride divides; option and file errors.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporaryFolder, writeTinyCamVid } from '../data/fixtures.js';
import { decodePngValues } from '../data/png.js';
import { load } from '../deploy/segmenter.js';
import { EXIT_CODES } from './main.js';
import { cli } from './testing.js';

const folder = await temporaryFolder('contraseg-export-cli-');
after(() => folder.remove());
const root = join(folder.path, 'camvid');
await writeTinyCamVid(root, { train: 4 });


const tiny = ['--dataset', 'camvid', '--root', root, '--labelled', '3', '--batch-size', '4', '--crop', '32', '--width', '0.0625',
  '--workers', '1', '--threads', '1'];
const runDir = join(folder.path, 'run');

function maskValues(file: string): Uint8Array {
  const decoded = decodePngValues(readFileSync(file), file);
  assert.ok(decoded !== undefined && decoded !== null, file);
  return Uint8Array.from(decoded.values);
}

function assertSameMasks(torchFolder: string, onnxFolder: string): void {
  let same = 0;
  let total = 0;
  for (const id of ['x0', 'x1']) {
    const torchMask = maskValues(join(torchFolder, `${id}.png`));
    const onnxMask = maskValues(join(onnxFolder, `${id}.png`));
    assert.equal(onnxMask.length, torchMask.length);
    for (let index = 0; index < torchMask.length; index++) if (torchMask[index] === onnxMask[index]) same++;
    total += torchMask.length;
    assert.ok(existsSync(join(onnxFolder, `${id}-overlay.png`)));
  }
  assert.equal(total, 37 * 29 + 41 * 27);
  assert.ok(same / total >= 0.999, `${onnxFolder}: ${same} of ${total} pixels agree`);
}

test('export --run, then predict --model writes the masks predict --run writes (>= 99.9% of pixels)', async () => {
  const trained = await cli('train', ...tiny, '--method', 'ce', '--finetune-steps', '4', '--no-test', '--out', runDir);
  assert.equal(trained.code, 0, trained.stderr);
  const modelFile = join(folder.path, 'model.onnx');
  const exported = await cli('export', '--run', runDir, '--out', modelFile);
  assert.equal(exported.code, 0, exported.stderr);
  assert.match(exported.stdout, /model\.onnx \(\d+\.\d MB, ONNX opset 17\)/);
  const segmenter = await load(modelFile);
  assert.deepEqual(segmenter.metadata.classNames.length, 11); // CamVid's 11 classes, from the run's class table
  await segmenter.dispose();

  const viaTorch = join(folder.path, 'masks-torch');
  const viaOnnx = join(folder.path, 'masks-onnx');
  assert.equal((await cli('predict', '--run', runDir, '--out', viaTorch, join(root, 'test'))).code, 0);
  const predicted = await cli('predict', '--model', modelFile, '--out', viaOnnx, join(root, 'test'));
  assert.equal(predicted.code, 0, predicted.stderr);
  assert.match(predicted.stdout, /2 images segmented/);
  assertSameMasks(viaTorch, viaOnnx);
  // test-time flip: the same averaging of softmax probabilities on both paths
  assert.equal((await cli('predict', '--run', runDir, '--flip', '--out', `${viaTorch}-flip`, join(root, 'test'))).code, 0);
  assert.equal((await cli('predict', '--model', modelFile, '--flip', '--out', `${viaOnnx}-flip`, join(root, 'test'))).code, 0);
  assertSameMasks(`${viaTorch}-flip`, `${viaOnnx}-flip`);

  const viaShorthand = join(folder.path, 'best.onnx');
  const best = await cli('export', '--checkpoint', join(runDir, 'best'), '--out', viaShorthand);
  assert.equal(best.code, 0, best.stderr);
  assert.match(best.stderr, /best-\d+-\d+\.json/);
});

test('export and predict --model refuse bad options and bad files with typed exit codes', async () => {
  const noSource = await cli('export', '--out', join(folder.path, 'x.onnx'));
  assert.equal(noSource.code, EXIT_CODES.CONFIG);
  assert.match(noSource.stderr, /give one of --run <dir> or --checkpoint <file>/);
  const badOut = await cli('export', '--run', runDir, '--out', join(folder.path, 'model.pt'));
  assert.equal(badOut.code, EXIT_CODES.CONFIG);
  assert.match(badOut.stderr, /--out: expected a file name ending in \.onnx/);
  const missingRun = await cli('export', '--run', join(folder.path, 'nowhere'), '--out', join(folder.path, 'x.onnx'));
  assert.equal(missingRun.code, EXIT_CODES.CHECKPOINT);

  const garbage = join(folder.path, 'garbage.onnx');
  writeFileSync(garbage, 'not a model');
  const bad = await cli('predict', '--model', garbage, '--out', join(folder.path, 'm'), join(root, 'test'));
  assert.equal(bad.code, EXIT_CODES.CHECKPOINT);
  assert.match(bad.stderr, /garbage\.onnx: not an ONNX model/);
  const both = await cli('predict', '--model', garbage, '--run', runDir, '--out', join(folder.path, 'm'), join(root, 'test'));
  assert.equal(both.code, EXIT_CODES.CONFIG);
  assert.match(both.stderr, /either --model <file\.onnx> or --run/);
  const notOnnx = await cli('predict', '--model', join(folder.path, 'model.safetensors'), '--out', join(folder.path, 'm'), join(root, 'test'));
  assert.equal(notOnnx.code, EXIT_CODES.CONFIG);
  assert.match(notOnnx.stderr, /--model: expected an \.onnx file/);

  const help = await cli('export', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: export /);
  assert.match(help.stdout, /Examples:\n  contraseg export --run runs\/quick --out model\.onnx/);
  assert.match((await cli('--help')).stdout, /export {4}a fine-tuned model as ONNX/);
});
