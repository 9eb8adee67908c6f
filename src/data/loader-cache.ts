/**
 * A decoded-sample cache for loader workers. Iteration-based training on few labelled images reads the
 * same files hundreds of times (20 CamVid images, 8 per step); decoding a JPEG and a PNG mask again each
 * time was most of a batch's CPU time (measured: 20-31 of 31-43 ms per batch of 8 at 180x240; bench/pipeline-profile.ts).
 * Samples are kept as decoded (before augmentation, which never writes into them) until `budgetBytes` is
 * used up; later samples are decoded every time (no eviction: for a uniformly random order, keeping a
 * fixed subset hits as often as any eviction policy, and costs no churn).
 */
import type { Sample, SegmentationDataset } from './types.js';

/** Default budget of decoded pixels per shuffled (training) loader, split across its workers: 256 MiB. */
export const DEFAULT_LOADER_CACHE_BYTES = 256 * 1024 * 1024;

/** What a cache did, for profiling. */
export interface SampleCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly bytes: number;
}

/**
 * Wraps `dataset` so that `get` returns cached decoded samples while `budgetBytes` lasts. The returned
 * samples are shared between calls: callers must not write into `image` or `mask` (buildBatch does not).
 * A failed read is not cached, so its error comes again on the next request.
 */
export function cacheSamples(dataset: SegmentationDataset, budgetBytes: number): SegmentationDataset & { readonly stats: () => SampleCacheStats } {
  const cached = new Map<number, Promise<Sample>>();
  let bytes = 0;
  let hits = 0;
  let misses = 0;
  const get = (index: number): Promise<Sample> => {
    const known = cached.get(index);
    if (known !== undefined) {
      hits++;
      return known;
    }
    misses++;
    const reading = dataset.get(index);
    if (bytes >= budgetBytes) return reading;
    cached.set(index, reading);
    reading.then((sample) => {
      bytes += sample.image.byteLength + sample.mask.byteLength;
    }, () => cached.delete(index));
    return reading;
  };
  return {
    name: dataset.name, classNames: dataset.classNames, colours: dataset.colours, numClasses: dataset.numClasses,
    ignoreIndex: dataset.ignoreIndex, length: dataset.length, ids: dataset.ids,
    ...(dataset.descriptor === undefined ? {} : { descriptor: dataset.descriptor }),
    get,
    stats: () => ({ hits, misses, bytes }),
  };
}
