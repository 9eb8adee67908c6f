import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, deriveSeed } from './rng.js';
import { ConfigError } from '../errors.js';

test('mulberry32 matches an independent Python implementation of the published algorithm', () => {
  // Values from a direct Python transcription of mulberry32 (32-bit masked arithmetic), seeds 42 and 0.
  const rng = new Rng(42);
  assert.equal(rng.next(), 0.6011037519201636);
  assert.equal(rng.next(), 0.44829055899754167);
  assert.equal(rng.next(), 0.8524657934904099);
  const zero = new Rng(0);
  assert.equal(zero.next(), 0.26642920868471265);
  assert.equal(zero.next(), 0.0003297457005828619);
});

test('integer, uniform and chance stay in range; shuffle is a permutation', () => {
  const rng = new Rng(1);
  for (let i = 0; i < 1000; i++) {
    const value = rng.integer(-3, 4);
    assert.ok(Number.isInteger(value) && value >= -3 && value <= 4);
    const u = rng.uniform(2, 5);
    assert.ok(u >= 2 && u < 5);
  }
  assert.equal(rng.chance(0), false);
  assert.equal(rng.chance(1), true);
  const permutation = rng.permutation(50);
  assert.deepEqual([...permutation].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
});

test('deriveSeed is deterministic, order-sensitive and spreads neighbouring tuples', () => {
  assert.equal(deriveSeed(1, 2, 3), deriveSeed(1, 2, 3));
  assert.notEqual(deriveSeed(1, 2, 3), deriveSeed(1, 3, 2));
  assert.notEqual(deriveSeed(0), deriveSeed(0, 0));
  assert.notEqual(deriveSeed(2 ** 40), deriveSeed(0));
  const seeds = new Set<number>();
  for (let epoch = 0; epoch < 10; epoch++) for (let index = 0; index < 100; index++) seeds.add(deriveSeed(7, epoch, index));
  assert.equal(seeds.size, 1000);
  assert.throws(() => deriveSeed(-1), (error: unknown) => error instanceof ConfigError && /non-negative integers, got -1/.test(error.message));
  assert.throws(() => deriveSeed(0.5), ConfigError);
});
