import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../augment/rng.js';
import { ConfigError, ShapeError } from '../errors.js';
import { embed2d } from './embedding-map.js';

const DIM = 16;

/** `perCluster` points around each of two centres 10 apart (unit-variance Gaussian noise), labels 0 then 1, interleaved. */
function twoClusters(perCluster: number): { rows: Float32Array; labels: number[] } {
  const rng = new Rng(7);
  const gaussian = (): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const rows = new Float32Array(2 * perCluster * DIM);
  const labels: number[] = [];
  for (let i = 0; i < 2 * perCluster; i++) {
    const label = i % 2;
    labels.push(label);
    for (let j = 0; j < DIM; j++) rows[i * DIM + j] = (label === 1 ? 10 / Math.sqrt(DIM) : 0) + gaussian();
  }
  return { rows, labels };
}

/** Fraction of points nearer (in 2-D) to their own label's centroid than to the other's. */
function nearestCentroidAgreement(points: Array<[number, number]>, labels: number[]): number {
  const centroids = [0, 1].map((label) => {
    const members = points.filter((_point, i) => labels[i] === label);
    return [0, 1].map((axis) => members.reduce((sum, point) => sum + point[axis]!, 0) / members.length);
  });
  const distance = (point: [number, number], centroid: number[]): number => Math.hypot(point[0] - centroid[0]!, point[1] - centroid[1]!);
  const agreeing = points.filter((point, i) => (distance(point, centroids[0]!) < distance(point, centroids[1]!) ? 0 : 1) === labels[i]).length;
  return agreeing / points.length;
}

test('embed2d: two well-separated 16-D Gaussian clusters come out as two separable groups in 2-D', () => {
  const { rows, labels } = twoClusters(150);
  const points = embed2d(rows, DIM, { seed: 3 });
  assert.equal(points.length, 300);
  assert.ok(points.every(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const agreement = nearestCentroidAgreement(points, labels);
  assert.ok(agreement >= 0.95, `nearest-centroid agreement ${agreement}`);
});

test('embed2d: deterministic for a seed, different for another seed', () => {
  const { rows } = twoClusters(40);
  const first = embed2d(rows, DIM, { seed: 11, epochs: 50 });
  assert.deepEqual(embed2d(rows, DIM, { seed: 11, epochs: 50 }), first);
  assert.notDeepEqual(embed2d(rows, DIM, { seed: 12, epochs: 50 }), first);
});

test('embed2d: a handful of points (fewer than the neighbourhood) still embed; fewer than 3 come back on a line', () => {
  const { rows } = twoClusters(3);
  assert.equal(embed2d(rows, DIM, { seed: 0 }).length, 6);
  assert.deepEqual(embed2d(rows.subarray(0, 2 * DIM), DIM, { seed: 0 }), [[0, 0], [1, 0]]);
  assert.deepEqual(embed2d(new Float32Array(0), DIM, { seed: 0 }), []);
});

test('embed2d: rejects rows that are not N x dim, bad options and non-finite values', () => {
  assert.throws(() => embed2d(new Float32Array(10), 4, { seed: 0 }), (error: unknown) => error instanceof ShapeError && /got 10, which is not a multiple of 4/.test(error.message));
  assert.throws(() => embed2d(new Float32Array(8), 0, { seed: 0 }), (error: unknown) => error instanceof ConfigError && /dim must be a positive integer, got 0/.test(error.message));
  assert.throws(() => embed2d(new Float32Array(8), 2, { seed: 0, neighbours: 1 }), (error: unknown) => error instanceof ConfigError && /neighbours must be an integer >= 2, got 1/.test(error.message));
  assert.throws(() => embed2d(new Float32Array(8), 2, { seed: 0, epochs: 0 }), (error: unknown) => error instanceof ConfigError && /epochs must be a positive integer/.test(error.message));
  const rows = new Float32Array(8);
  rows[5] = Number.NaN;
  assert.throws(() => embed2d(rows, 2, { seed: 0 }), (error: unknown) => error instanceof ConfigError && /row 2 has a non-finite value \(NaN\) at 1/.test(error.message));
});
