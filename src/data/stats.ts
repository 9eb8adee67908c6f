/** Dataset statistics: image count, image sizes and the pixel share of every class (ignore counted apart). */
import { IGNORE_INDEX } from '../augment/types.js';
import type { SegmentationDataset } from './types.js';

/** Pixel count and share (of all pixels, ignore included) of one class. */
export interface ClassShare {
  readonly id: number;
  readonly name: string;
  readonly pixels: number;
  readonly fraction: number;
}

/** What datasetStats reports. */
export interface DatasetStats {
  readonly images: number;
  /** Distinct image sizes, most frequent first. */
  readonly sizes: readonly { readonly width: number; readonly height: number; readonly count: number }[];
  readonly totalPixels: number;
  readonly classes: readonly ClassShare[];
  readonly ignorePixels: number;
  readonly ignoreFraction: number;
}

/**
 * Reads every sample (so bad files raise the same DatasetError as in training) and counts pixels per class.
 * `concurrency` samples are decoded at once (default 4); samples are counted in index order.
 * @throws DatasetError naming the first bad file.
 */
export async function datasetStats(dataset: SegmentationDataset, options: { concurrency?: number } = {}): Promise<DatasetStats> {
  const counts = new Float64Array(256);
  const sizes = new Map<string, { width: number; height: number; count: number }>();
  const concurrency = Math.max(1, options.concurrency ?? 4);
  for (let start = 0; start < dataset.length; start += concurrency) {
    const indices = Array.from({ length: Math.min(concurrency, dataset.length - start) }, (_, i) => start + i);
    const samples = await Promise.all(indices.map((index) => dataset.get(index)));
    for (const sample of samples) {
      for (const label of sample.mask) counts[label] = (counts[label] as number) + 1;
      const key = `${sample.width}x${sample.height}`;
      const size = sizes.get(key) ?? { width: sample.width, height: sample.height, count: 0 };
      size.count++;
      sizes.set(key, size);
    }
  }
  const totalPixels = counts.reduce((sum, count) => sum + count, 0);
  const share = (pixels: number): number => (totalPixels === 0 ? 0 : pixels / totalPixels);
  return {
    images: dataset.length,
    sizes: [...sizes.values()].sort((a, b) => b.count - a.count),
    totalPixels,
    classes: dataset.classNames.map((name, id) => ({ id, name, pixels: counts[id] as number, fraction: share(counts[id] as number) })),
    ignorePixels: counts[IGNORE_INDEX] as number,
    ignoreFraction: share(counts[IGNORE_INDEX] as number),
  };
}
