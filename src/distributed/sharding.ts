/**
 * Rank-sharded sample order for the loader: every rank reads its own part of each epoch, so that across
 * the group every image is seen once per epoch. Pure functions on index lists (no tensors).
 */
import { ConfigError } from '../errors.js';

function checkRank(rank: number, worldSize: number): void {
  if (!Number.isInteger(worldSize) || worldSize < 1 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new ConfigError(`sharding: expected 0 <= rank < worldSize (integers), got rank ${rank}, worldSize ${worldSize}`);
  }
}

/**
 * This rank's part of an epoch order, as torch.utils.data.DistributedSampler (drop_last=False): the order
 * is padded by repeating its start until its length divides by worldSize, then rank r takes positions
 * r, r + worldSize, ... Every rank gets the same count; at most worldSize - 1 images are seen twice.
 * Every rank must pass the same order (the same seed and epoch).
 * @throws ConfigError for a rank outside 0..worldSize-1.
 */
export function shardEpochOrder<T>(order: readonly T[], rank: number, worldSize: number): T[] {
  checkRank(rank, worldSize);
  if (order.length === 0) return [];
  const total = Math.ceil(order.length / worldSize) * worldSize;
  const shard: T[] = [];
  for (let position = rank; position < total; position += worldSize) shard.push(order[position % order.length] as T);
  return shard;
}

/**
 * This rank's contiguous slice of a global batch of worldSize x perRank items: rank r takes items
 * [r * perRank, (r + 1) * perRank). Concatenated in rank order the slices are the global batch, so one
 * data-parallel step equals one single-process step on the global batch.
 * @throws ConfigError when the batch does not divide by worldSize.
 */
export function shardBatch<T>(globalBatch: readonly T[], rank: number, worldSize: number): T[] {
  checkRank(rank, worldSize);
  if (globalBatch.length % worldSize !== 0) {
    throw new ConfigError(`sharding: a global batch of ${globalBatch.length} does not split into ${worldSize} equal parts; ` +
      `use a batch size divisible by the number of processes`);
  }
  const perRank = globalBatch.length / worldSize;
  return globalBatch.slice(rank * perRank, (rank + 1) * perRank);
}
