import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../torch/creation.js';
import { liveTensorCount } from '../torch/scope.js';
import { ShapeError } from '../errors.js';
import { downsampleLabels } from './labels.js';

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
