/**
 * The lowest value a label-based contrastive loss can take on a batch, from its labels alone. It tells
 * whether stage 1 has converged: a raw loss of 6.1 means little until one knows that the batch's floor
 * is 5.6 and that equal embeddings everywhere would give about log |K| = 6.9.
 *
 * For an anchor p with positives P(p) (all inside the denominator, as in the within, cross and batch
 * losses of pixel-contrastive.ts), Jensen's inequality on log sum_{q in P} exp s(p, q) gives
 *   l(p) = -(1/|P|) sum_{q in P} s(p, q) + log sum_{k} exp s(p, k) >= log |P(p)|,
 * for any features and any temperature, approached when same-class similarities are equal and every
 * negative is far below them (within |negatives| / |P| * exp(-(s_pos - s_neg)) of it). The floor is
 * that bound reduced over anchors exactly as the loss is. The released ("official") losses put one
 * positive at a time in each denominator, so their floor is 0.
 */
import { expectTensor, type Tensor } from '../torch/tensor.js';
import { ConfigError, ShapeError } from '../errors.js';
import { DEFAULT_IGNORE_INDEX } from './constants.js';

/** The loss whose floor is wanted (pretrain.loss of a run config). */
export type ContrastiveLossKind = 'within' | 'cross' | 'batch' | 'official';

/** Options of contrastiveLossFloor. */
export interface LossFloorOptions {
  /** Label of ignored pixels (default 255). */
  ignoreIndex?: number;
  /** Cross-image partners (default (b + 1) mod B), as crossImageContrastiveLoss. */
  partner?: readonly number[];
}

/** Per-image class counts of a [B, h, w] label map; counts[b].get(c) = pixels of class c in image b. */
function classCounts(labels: ArrayLike<number>, batch: number, pixels: number, ignoreIndex: number): Map<number, number>[] {
  const counts: Map<number, number>[] = [];
  for (let b = 0; b < batch; b += 1) {
    const image = new Map<number, number>();
    for (let i = b * pixels; i < (b + 1) * pixels; i += 1) {
      const label = labels[i] as number;
      if (label !== ignoreIndex) image.set(label, (image.get(label) ?? 0) + 1);
    }
    counts.push(image);
  }
  return counts;
}

function labelValues(what: string, labels: Tensor): { values: number[]; batch: number; pixels: number } {
  if (expectTensor(labels, 'contrastiveLossFloor', what).rank !== 3) throw new ShapeError(`contrastiveLossFloor: ${what} must be [B, h, w], got [${labels.shape.join(', ')}]`);
  const [batch, height, width] = labels.shape as [number, number, number];
  return { values: labels.toArray(), batch, pixels: height * width };
}

/**
 * Floor of the loss on one batch: the mean over kept anchors (per image, then over images, for within and
 * cross; over the whole batch for batch) of log |P(p)|. 0 when no anchor is kept, and for 'official'.
 * @param labels [B, h, w] integer labels of view I at the loss resolution (borrowed).
 * @param distortedLabels [B, h', w'] labels of view Î (the contrast set).
 * @throws ShapeError for labels that are not [B, h, w] or batch sizes that differ.
 */
export function contrastiveLossFloor(kind: ContrastiveLossKind, labels: Tensor, distortedLabels: Tensor, options: LossFloorOptions = {}): number {
  if (kind === 'official') return 0;
  if (kind !== 'within' && kind !== 'cross' && kind !== 'batch') {
    throw new ConfigError(`contrastiveLossFloor: kind must be 'within', 'cross', 'batch' or 'official', got ${JSON.stringify(kind)}`);
  }
  const ignoreIndex = options.ignoreIndex ?? DEFAULT_IGNORE_INDEX;
  const anchors = labelValues('labels', labels);
  const contrast = labelValues('distortedLabels', distortedLabels);
  if (anchors.batch !== contrast.batch) {
    throw new ShapeError(`contrastiveLossFloor: labels have batch ${anchors.batch}, distortedLabels ${contrast.batch}`);
  }
  if (kind === 'cross' && anchors.batch < 2) throw new ShapeError('contrastiveLossFloor: the cross-image loss needs a batch of at least 2 images');
  const counts = classCounts(contrast.values, contrast.batch, contrast.pixels, ignoreIndex);
  const total = new Map<number, number>();
  for (const image of counts) for (const [label, n] of image) total.set(label, (total.get(label) ?? 0) + n);
  const positivesOf = (b: number, label: number): number => {
    switch (kind) {
      case 'within': return counts[b]?.get(label) ?? 0;
      case 'cross': {
        const partner = options.partner?.[b] ?? (b + 1) % anchors.batch;
        return (counts[b]?.get(label) ?? 0) + (counts[partner]?.get(label) ?? 0);
      }
      case 'batch': return total.get(label) ?? 0;
      default: { const never: never = kind; throw new Error(`unhandled loss ${String(never)}`); }
    }
  };
  let imageSum = 0; let images = 0; let anchorSum = 0; let anchorCount = 0;
  for (let b = 0; b < anchors.batch; b += 1) {
    let sum = 0; let kept = 0;
    for (let i = b * anchors.pixels; i < (b + 1) * anchors.pixels; i += 1) {
      const label = anchors.values[i] as number;
      if (label === ignoreIndex) continue;
      const positives = positivesOf(b, label);
      if (positives === 0) continue;
      sum += Math.log(positives); kept += 1;
    }
    if (kept > 0) { imageSum += sum / kept; images += 1; }
    anchorSum += sum; anchorCount += kept;
  }
  if (kind === 'batch') return anchorCount === 0 ? 0 : anchorSum / anchorCount;
  return images === 0 ? 0 : imageSum / images;
}
