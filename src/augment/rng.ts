/**
 * Deterministic pseudo-random numbers for splits and augmentation, independent of libtorch's generator
 * so that data workers (which never load the addon) draw the same values as the main thread.
 *
 * Generator: mulberry32 (Tommy Ettinger, public domain): a 32-bit state advanced by the Weyl constant
 * 0x6D2B79F5 and mixed by two xor-shift-multiply rounds. Period 2^32, fast, good enough for choosing
 * crops and jitter factors; not for cryptography. Seeds are derived from several integers with
 * MurmurHash3's 32-bit finaliser (`fmix32`), so (seed, epoch, index) gives an independent-looking
 * stream for every sample whatever worker draws it.
 */
import { ConfigError } from '../errors.js';

/** MurmurHash3 fmix32: a bijective avalanche mix of a 32-bit integer. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A 32-bit seed derived from several non-negative safe integers (e.g. seed, epoch, sample index).
 * Different tuples give unrelated seeds; the same tuple always gives the same seed.
 * @throws ConfigError if a part is not a non-negative safe integer.
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    if (!Number.isSafeInteger(part) || part < 0) {
      throw new ConfigError(`deriveSeed: expected non-negative integers, got ${part}. Use an integer seed such as 0 or 42.`);
    }
    const low = part % 0x100000000;
    const high = Math.floor(part / 0x100000000);
    h = fmix32((h ^ fmix32(low)) + 0x7f4a7c15);
    h = fmix32((h ^ fmix32(high + 0x632be5ab)) + 0x7f4a7c15);
  }
  return h;
}

/** A seeded mulberry32 stream. Not thread-safe in any sense: one per sample or per task. */
export class Rng {
  private state: number;

  /** @param seed any integer; only its low 32 bits matter (use deriveSeed for larger or composite seeds). */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform float in [0, 1) with 32 random bits. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A uniform float in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** A uniform integer in [low, high] (both inclusive). */
  integer(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  /** True with probability `p`. p <= 0 never draws true, p >= 1 always; one draw is consumed either way. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Shuffles `items` in place (Fisher-Yates, from the end) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const swap = items[i] as T;
      items[i] = items[j] as T;
      items[j] = swap;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }
}
