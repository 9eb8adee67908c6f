/**
 * The page's own modules (web/model-metadata.js, web/segment.js) in Node: they are plain ES modules of
 * typed arrays, so their arithmetic and metadata reading are checked here by hand-computed cases and
 * against the metadata PyTorch's onnx wrote (web/fixtures) and contraseg export writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/batch.js';
import { exportOnnx } from './export.js';
import { classTable, perturbedModel } from './parity-fixture.js';
import { readWebFixtures } from './server-fixtures.js';
import { onnxruntimeWebDist, packageRoot } from './server-http.js';

interface PageMetadata { classNames: string[]; colours: number[][]; mean: number[]; std: number[]; version: string; outputStride: string }
type Protobuf = unknown;
const web = (name: string): string => pathToFileURL(join(packageRoot(), 'web', name)).href;
const { contrasegMetadata } = await import(web('model-metadata.js')) as { contrasegMetadata: (protobuf: Protobuf, bytes: Uint8Array) => PageMetadata };
const { normalisedPlanes, argmaxClasses, maskPixels, classCounts } = await import(web('segment.js')) as {
  normalisedPlanes: (rgba: Uint8Array, width: number, height: number, mean: number[], std: number[]) => Float32Array;
  argmaxClasses: (logits: Float32Array, classCount: number, width: number, height: number) => Uint8Array;
  maskPixels: (mask: Uint8Array, colours: number[][]) => Uint8ClampedArray;
  classCounts: (mask: Uint8Array, classCount: number) => number[];
};
// the same file the page loads from /vendor/protobuf.min.js
const protobuf = createRequire(join(onnxruntimeWebDist(), 'ort.node.min.js'))('protobufjs/dist/minimal/protobuf.min.js') as Protobuf;
const onnxProto = (createRequire(import.meta.url)('onnx-proto') as {
  onnx: { ModelProto: { decode(bytes: Uint8Array): { metadataProps: { key: string; value: string }[] }; encode(model: unknown): { finish(): Uint8Array } } };
}).onnx;

test('contrasegMetadata reads what PyTorch\'s onnx wrote into the fixture (web/fixtures/make_fixtures.py)', () => {
  const fixtures = readWebFixtures();
  const metadata = contrasegMetadata(protobuf, readFileSync(fixtures.modelFile));
  assert.deepEqual(metadata, {
    classNames: ['sky', 'road', 'tree', 'car'], colours: [[128, 128, 128], [128, 64, 128], [128, 128, 0], [64, 0, 128]],
    mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], version: 'fixture', outputStride: '2',
  });
});

test('contrasegMetadata reads a model written by contraseg export', () => {
  const table = classTable(3);
  const model = perturbedModel('mobilenetv2', 16, 0.25, 3);
  let bytes: Uint8Array;
  try {
    bytes = exportOnnx(model, { ...table, mean: IMAGENET_MEAN, std: IMAGENET_STD });
  } finally {
    model.dispose();
  }
  const metadata = contrasegMetadata(protobuf, bytes);
  assert.deepEqual(metadata.classNames, table.classNames);
  assert.deepEqual(metadata.colours, table.colours);
  assert.deepEqual([metadata.mean, metadata.std], [IMAGENET_MEAN, IMAGENET_STD]);
  assert.equal(metadata.outputStride, '16');
});

test('contrasegMetadata names a missing or malformed key', () => {
  const decoded = onnxProto.ModelProto.decode(readFileSync(readWebFixtures().modelFile));
  const withProps = (props: { key: string; value: string }[]): Uint8Array => onnxProto.ModelProto.encode({ ...decoded, metadataProps: props }).finish();
  const props = decoded.metadataProps.map((entry) => ({ key: entry.key, value: entry.value }));
  assert.throws(() => contrasegMetadata(protobuf, withProps([])), /no contraseg\.classNames metadata: export it with `contraseg export`/);
  const badColours = props.map((entry) => entry.key === 'contraseg.colours' ? { ...entry, value: '[[1, 2, 3]]' } : entry);
  assert.throws(() => contrasegMetadata(protobuf, withProps(badColours)), /contraseg\.colours = \[\[1, 2, 3\]\]: expected 4 \[r, g, b\] triples/);
  const badStd = props.map((entry) => entry.key === 'contraseg.std' ? { ...entry, value: '[0.2, 0, 0.2]' } : entry);
  assert.throws(() => contrasegMetadata(protobuf, withProps(badStd)), /contraseg\.std .*three positive numbers/);
});

test('normalisedPlanes: RGBA -> [1, 3, H, W] planes, (v / 255 - mean) / std, alpha ignored (hand-computed)', () => {
  // 2x1 image: red, then grey 51 with alpha 0
  const rgba = new Uint8Array([255, 0, 0, 255, 51, 51, 51, 0]);
  const planes = normalisedPlanes(rgba, 2, 1, [0.5, 0.5, 0.5], [0.5, 0.25, 0.5]);
  // R: (1 - .5)/.5 = 1, (.2 - .5)/.5 = -0.6; G: -.5/.25 = -2, -.3/.25 = -1.2; B: -1, -0.6
  const expected = [1, -0.6, -2, -1.2, -1, -0.6];
  planes.forEach((value, index) => assert.ok(Math.abs(value - (expected[index] as number)) < 1e-6, `plane value ${index}: ${value}`));
});

test('argmaxClasses: per-pixel argmax over [1, C, H, W], first maximum on ties; maskPixels and classCounts', () => {
  // 3 classes, 2x2 pixels: pixel 0 -> class 2, pixel 1 -> tie of 0 and 1 -> 0, pixel 2 -> 1, pixel 3 -> negative logits, class 2
  const logits = new Float32Array([0, 5, 1, -3, /* class 1 */ 1, 5, 7, -2, /* class 2 */ 3, 4, 2, -1]);
  const mask = argmaxClasses(logits, 3, 2, 2);
  assert.deepEqual([...mask], [2, 0, 1, 2]);
  assert.deepEqual(classCounts(mask, 3), [1, 1, 2]);
  const colours = [[10, 20, 30], [40, 50, 60], [70, 80, 90]];
  assert.deepEqual([...maskPixels(mask, colours)], [70, 80, 90, 255, 10, 20, 30, 255, 40, 50, 60, 255, 70, 80, 90, 255]);
});
