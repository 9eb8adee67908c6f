import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../torch/creation.js';
import { liveTensorCount } from '../torch/scope.js';
import { ShapeError } from '../errors.js';
import { capAnchorsPerClass, downsampleLabels } from './labels.js';

test('downsampleLabels keeps the pixel at floor(i * H / h): hand-computed 4x6 -> 2x3, ignore 255 kept as is', () => {
  const before = liveTensorCount();
  // rows 0..3, cols 0..5; value = 10 * row + col, one 255
  const values = Array.from({ length: 24 }, (_, i) => (i === 14 ? 255 : 10 * Math.floor(i / 6) + (i % 6)));
  const labels = tensor(values, [1, 4, 6], { dtype: 'int64' });
  const down = downsampleLabels(labels, [2, 3]);
  assert.deepEqual(down.shape, [1, 2, 3]);
  assert.equal(down.dtype, 'int64');
  // rows 0, 2; cols 0, 2, 4 -> (0,0)=0 (0,2)=2 (0,4)=4 (2,0)=20 (2,2)=255 (2,4)=24
  assert.deepEqual(down.toArray(), [0, 2, 4, 20, 255, 24]);
  labels.dispose();
  down.dispose();
  assert.equal(liveTensorCount(), before);
});

test('downsampleLabels rejects labels that are not [B, H, W]', () => {
  const labels = tensor([1, 2], [2], { dtype: 'int64' });
  assert.throws(() => downsampleLabels(labels, [1, 1]), ShapeError);
  labels.dispose();
});

test('capAnchorsPerClass: at most cap pixels of each class per image stay, the rest become ignore; small classes and ignore untouched', () => {
  const before = liveTensorCount();
  // image 0: 10 x class 0, 3 x class 1, 2 x 255, 1 x class 2; image 1: 16 x class 0
  const image0 = [...Array<number>(10).fill(0), 1, 1, 1, 255, 255, 2];
  const image1 = Array<number>(16).fill(0);
  const labels = tensor([...image0, ...image1], [2, 4, 4], { dtype: 'int64' });
  const capped = capAnchorsPerClass(labels, 4, 255);
  assert.deepEqual(capped.shape, [2, 4, 4]);
  assert.equal(capped.dtype, 'int64');
  const values = capped.toArray();
  const count = (from: number, label: number): number => values.slice(from, from + 16).filter((value) => value === label).length;
  assert.deepEqual([count(0, 0), count(0, 1), count(0, 2), count(0, 255)], [4, 3, 1, 2 + 6]);
  assert.deepEqual([count(16, 0), count(16, 255)], [4, 12]);
  // A kept pixel keeps its own label: nothing moves, pixels are only switched off.
  values.forEach((value, i) => assert.ok(value === 255 || value === [...image0, ...image1][i], `pixel ${i}`));
  // The same batch keeps the same pixels (a resumed run repeats a straight one).
  const again = capAnchorsPerClass(labels, 4, 255);
  assert.deepEqual(again.toArray(), values);
  // A cap at or above every class's count changes nothing.
  const loose = capAnchorsPerClass(labels, 16, 255);
  assert.deepEqual(loose.toArray(), labels.toArray());
  assert.throws(() => capAnchorsPerClass(labels, 0, 255), RangeError);
  const flat = tensor([1, 2], [2], { dtype: 'int64' });
  assert.throws(() => capAnchorsPerClass(flat, 1, 255), ShapeError);
  for (const t of [labels, capped, again, loose, flat]) t.dispose();
  assert.equal(liveTensorCount(), before);
});
