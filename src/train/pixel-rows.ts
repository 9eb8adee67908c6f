/** One sample as network input, and its feature map's per-pixel rows paired with its labels at the map's stride. */
import { IGNORE_INDEX } from '../augment/types.js';
import { normalisedChw } from '../data/batch.js';
import type { Sample } from '../data/types.js';
import { tensor } from '../torch/creation.js';
import { normalize } from '../torch/ops/functional.js';
import { scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { downsampleLabels } from './labels.js';

/** A sample's image as the network's input: ImageNet-normalised, [1, 3, H, W] (owned by the caller). */
export function imageTensor(sample: Sample): Tensor {
  return tensor(normalisedChw(sample.image, sample.width, sample.height), [1, 3, sample.height, sample.width]); // [1, 3, H, W]
}

/** Unit-norm feature rows of an image's labelled pixels, and their class ids. */
export interface PixelRows {
  /** N x D floats, row-major. */
  readonly rows: Float32Array;
  readonly labels: number[];
  readonly dim: number;
}

/**
 * Every labelled (not ignore) pixel of `features` ([1, D, h, w], borrowed) as a unit row, with the
 * sample's mask downsampled (nearest) to h x w. `keep` picks and orders the pixels from the labelled
 * ones (e.g. a random sample); all of them in raster order by default.
 */
export function labelledPixelRows(features: Tensor, sample: Sample, keep: (labelled: number[]) => number[] = (labelled) => labelled): PixelRows {
  return scope(() => {
    const [, dim, h, w] = features.shape as [number, number, number, number];
    const labels = downsampleLabels(tensor(Uint8Array.from(sample.mask), [1, sample.height, sample.width], { dtype: 'uint8' }).to('int64'), [h, w]);
    const ids = Array.from(labels.toTypedArray() as BigInt64Array, Number);
    const chosen = keep(ids.flatMap((id, p) => (id === IGNORE_INDEX ? [] : [p])));
    const flat = normalize(features, { dim: 1 }).reshape([dim, h * w]).transpose(0, 1).contiguous().toTypedArray() as Float32Array; // [h*w, D]
    const rows = new Float32Array(chosen.length * dim);
    chosen.forEach((p, i) => rows.set(flat.subarray(p * dim, (p + 1) * dim), i * dim));
    return { rows, labels: chosen.map((p) => ids[p] as number), dim };
  });
}
