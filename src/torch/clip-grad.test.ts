import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from './creation.js';
import { clipGradNorm, gradNorm } from './clip-grad.js';
import { liveTensorCount, scope } from './scope.js';
import { ConfigError } from '../errors.js';

/** Two leaves with hand-chosen gradients: d(sum(a * ga) + sum(b * gb)) = (ga, gb); global norm sqrt(9 + 16 + 144) = 13. */
function withGradients(): { a: ReturnType<typeof tensor>; b: ReturnType<typeof tensor>; c: ReturnType<typeof tensor> } {
  const a = tensor([1, 2], [2], { requiresGrad: true });
  const b = tensor([5], [1], { requiresGrad: true });
  const c = tensor([7], [1], { requiresGrad: true }); // no gradient: skipped
  scope(() => a.mul(tensor([3, 4], [2])).sum().add(b.mul(12).sum()).backward());
  return { a, b, c };
}

test('gradNorm is the global L2 norm over every gradient (hand value 13); parameters without a gradient are skipped', () => {
  const { a, b, c } = withGradients();
  assert.equal(gradNorm([a, b, c]), 13);
  for (const t of [a, b, c]) t.dispose();
});

test('clipGradNorm scales by maxNorm / (norm + 1e-6) in place, as torch.nn.utils.clip_grad_norm_, and returns the old norm', () => {
  const before = liveTensorCount();
  const { a, b, c } = withGradients();
  assert.equal(clipGradNorm([a, b, c], 6.5), 13);
  const factor = 6.5 / (13 + 1e-6);
  const read = (t: typeof a): number[] => scope(() => t.grad?.toArray() ?? []);
  // float32 gradients scaled by a float64 factor: each product is rounded once, relative error <= 2^-24
  for (const [got, want] of [[read(a), [3 * factor, 4 * factor]], [read(b), [12 * factor]]] as const) {
    got.forEach((value, i) => assert.ok(Math.abs(value - (want[i] as number)) <= Math.abs(want[i] as number) * 2 ** -23, `${value} vs ${want[i]}`));
  }
  assert.equal(clipGradNorm([a, b], 100), gradNorm([a, b])); // below the bound: untouched
  for (const t of [a, b, c]) t.dispose();
  assert.equal(liveTensorCount(), before);
});

test('clipGradNorm rejects a non-positive bound with a ConfigError', () => {
  assert.throws(() => clipGradNorm([], 0), ConfigError);
});
