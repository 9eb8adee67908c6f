/** The nearest-class-mean probe against cases worked by hand in 2-D. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, ShapeError } from '../errors.js';
import { PrototypeProbe } from './prototype-probe.js';

const rows = (...points: [number, number][]): Float32Array => Float32Array.from(points.flat());

describe('PrototypeProbe', () => {
  it('averages unit rows, so a long row does not outweigh a short one', () => {
    // Class 0: (10, 0) and (0, 1) -> unit mean (0.5, 0.5), direction (0.707, 0.707). Summing the raw rows
    // would give (10, 1), direction (0.995, 0.0995). Class 1: (4, 3) -> (0.8, 0.6).
    const probe = new PrototypeProbe(2, 2).add(rows([10, 0], [0, 1], [4, 3]), [0, 0, 1]);
    // (1, 0): cosine 0.707 with class 0, 0.8 with class 1 -> 1 (raw sums would say 0: 0.995).
    // (0, 1): 0.707 against 0.6 -> 0.
    assert.deepEqual([...probe.classify(rows([1, 0], [0, 1]))], [1, 0]);
    assert.deepEqual(probe.classCounts(), [2, 1]);
  });

  it('compares directions: scaling a query row does not change its class', () => {
    const probe = new PrototypeProbe(2, 2).add(rows([1, 0], [0, 1]), [0, 1]);
    assert.deepEqual([...probe.classify(rows([3, 1], [0.003, 0.001], [1, 3]))], [0, 0, 1]);
  });

  it('never predicts a class without rows, skips zero rows, and breaks ties to the lower id', () => {
    const probe = new PrototypeProbe(3, 2).add(rows([0, 1], [0, 0], [1, 0]), [2, 0, 1]);
    // Class 0 got only a zero row: no prototype. (1, 1) ties classes 1 and 2 at 0.707 -> 1; (-1, -1) is
    // nearer neither but must still get a class that exists.
    assert.deepEqual(probe.classCounts(), [0, 1, 1]);
    assert.deepEqual([...probe.classify(rows([1, 1], [-1, -1], [-1, 2]))], [1, 1, 2]);
  });

  it('rejects bad input with messages that say how to fix it', () => {
    assert.throws(() => new PrototypeProbe(0, 2), ConfigError);
    assert.throws(() => new PrototypeProbe(2, 0), ConfigError);
    const probe = new PrototypeProbe(2, 2);
    assert.throws(() => probe.classify(rows([1, 0])), /no prototypes yet/);
    assert.throws(() => probe.add(Float32Array.of(1, 2, 3), [0]), ShapeError);
    assert.throws(() => probe.add(rows([1, 0]), [0, 1]), /one label per row/);
    assert.throws(() => probe.add(rows([1, 0]), [255]), /drop ignore pixels/);
  });
});
