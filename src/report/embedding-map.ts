/**
 * 2-D maps of feature vectors (e.g. sampled pixel embeddings) by UMAP (McInnes et al., 2018), through
 * umap-js, made deterministic by feeding it a seeded mulberry32 stream instead of Math.random.
 */
import { UMAP } from 'umap-js';
import { Rng } from '../augment/rng.js';
import { ConfigError, ShapeError } from '../errors.js';

/** UMAP's default neighbourhood size (umap-learn's `n_neighbors`). */
export const DEFAULT_UMAP_NEIGHBOURS = 15;
/** Optimisation epochs: fewer than umap-js's size-based default (200-500), enough for a few thousand points to settle. */
export const DEFAULT_UMAP_EPOCHS = 200;

/** Options of {@link embed2d}. */
export interface Embed2dOptions {
  /** Seed of the random initialisation, neighbour search and negative sampling. */
  readonly seed: number;
  /** Neighbourhood size; clamped to the number of points - 1. Default {@link DEFAULT_UMAP_NEIGHBOURS}. */
  readonly neighbours?: number;
  /** Optimisation epochs. Default {@link DEFAULT_UMAP_EPOCHS}. */
  readonly epochs?: number;
}

/**
 * Projects `rows` (N vectors of `dim` floats, row-major: `rows[i * dim + j]`) to N points in 2-D.
 * The same rows, dim and options always give the same points. Fewer than 3 points cannot be laid out
 * by UMAP: they come back on a line (0, 0), (1, 0).
 * @param rows borrowed, not modified.
 * @returns [x, y] per row, in row order.
 * @throws ShapeError if `rows.length` is not a multiple of `dim`.
 * @throws ConfigError for a non-positive dim, neighbours < 2, epochs < 1, or a non-finite value in rows.
 */
export function embed2d(rows: Float32Array, dim: number, options: Embed2dOptions): Array<[number, number]> {
  if (!Number.isInteger(dim) || dim < 1) throw new ConfigError(`embed2d: dim must be a positive integer, got ${dim}.`);
  if (rows.length % dim !== 0) {
    throw new ShapeError(`embed2d: expected N x ${dim} values (rows of dim ${dim}), got ${rows.length}, which is not a multiple of ${dim}. Pass the feature dimension as dim.`);
  }
  const neighbours = options.neighbours ?? DEFAULT_UMAP_NEIGHBOURS;
  const epochs = options.epochs ?? DEFAULT_UMAP_EPOCHS;
  if (!Number.isInteger(neighbours) || neighbours < 2) throw new ConfigError(`embed2d: neighbours must be an integer >= 2, got ${neighbours}.`);
  if (!Number.isInteger(epochs) || epochs < 1) throw new ConfigError(`embed2d: epochs must be a positive integer, got ${epochs}.`);
  const count = rows.length / dim;
  const vectors: number[][] = [];
  for (let i = 0; i < count; i++) {
    const vector = Array.from(rows.subarray(i * dim, (i + 1) * dim));
    const bad = vector.findIndex((value) => !Number.isFinite(value));
    if (bad >= 0) throw new ConfigError(`embed2d: row ${i} has a non-finite value (${vector[bad]}) at ${bad}; drop or fix such rows before embedding.`);
    vectors.push(vector);
  }
  if (count < 3) return vectors.map((_vector, i) => [i, 0]);
  const rng = new Rng(options.seed);
  const umap = new UMAP({ nComponents: 2, nNeighbors: Math.min(neighbours, count - 1), nEpochs: epochs, random: () => rng.next() });
  return umap.fit(vectors).map(([x, y]) => [x as number, y as number]);
}
