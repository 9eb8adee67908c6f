/** Labels at the resolution of a feature map: the one helper every stage and loss uses. */
import { Rng } from '../augment/rng.js';
import { tensor } from '../torch/creation.js';
import type { Tensor } from '../torch/tensor.js';
import { scope } from '../torch/scope.js';
import { interpolate } from '../torch/ops/functional.js';
import { ShapeError } from '../errors.js';

/**
 * labels [B, H, W] int64 (borrowed) -> [B, height, width] int64 by nearest neighbour (PyTorch's
 * 'nearest': source index floor(i * H / height)), so every label stays a real class id or 255 — never
 * a blend. Returns a new tensor (the caller owns it), also when the size already matches.
 * @throws ShapeError for labels that are not [B, H, W].
 */
export function downsampleLabels(labels: Tensor, [height, width]: readonly [number, number]): Tensor {
  if (labels.rank !== 3) throw new ShapeError(`downsampleLabels: expected labels [B, H, W], got [${labels.shape.join(', ')}]`);
  return scope(() => {
    const asFloat = labels.unsqueeze(1).to('float32'); // [B, 1, H, W]; class ids <= 255 are exact in float32
    return interpolate(asFloat, [height, width], 'nearest').squeeze(1).to('int64'); // [B, height, width]
  });
}

/**
 * Anchor labels with at most `cap` pixels of each class per image: the other pixels of a larger class become
 * `ignoreIndex`. The pixel-wise contrastive losses average over anchors, so a class's weight in stage 1 is
 * its share of the pixels; capping the anchors per class gives a sign or a pedestrian as many anchors as the
 * road when it has that many pixels. Pass the result as the anchor labels only: the contrast set keeps every
 * pixel. Which pixels stay is a pseudo-random choice seeded by the image's own labels, so a batch always
 * keeps the same anchors (a resumed run repeats a straight one).
 * @param labels [B, h, w] int64 (borrowed). @returns a new [B, h, w] int64 tensor (the caller owns it).
 * @throws ShapeError for labels that are not [B, h, w]; RangeError for a cap that is not a positive integer.
 */
export function capAnchorsPerClass(labels: Tensor, cap: number, ignoreIndex: number): Tensor {
  if (labels.rank !== 3) throw new ShapeError(`capAnchorsPerClass: expected labels [B, h, w], got [${labels.shape.join(', ')}]`);
  if (!Number.isSafeInteger(cap) || cap < 1) throw new RangeError(`capAnchorsPerClass: cap must be a positive integer, got ${cap}`);
  const [batch, height, width] = labels.shape as [number, number, number];
  const pixels = height * width;
  const values = labels.toArray();
  const capped = BigInt64Array.from(values, (value) => BigInt(value));
  for (let b = 0; b < batch; b++) {
    const byClass = new Map<number, number[]>();
    let hash = 0x811c9dc5; // FNV-1a over the image's labels: its seed
    for (let i = b * pixels; i < (b + 1) * pixels; i++) {
      const label = values[i] as number;
      hash = Math.imul(hash ^ (label & 0xff), 0x01000193) >>> 0;
      if (label === ignoreIndex) continue;
      const members = byClass.get(label);
      if (members === undefined) byClass.set(label, [i]);
      else members.push(i);
    }
    const rng = new Rng(hash);
    for (const members of [...byClass.entries()].sort((x, y) => x[0] - y[0]).map(([, indices]) => indices)) {
      if (members.length <= cap) continue;
      for (const index of rng.shuffle(members).slice(cap)) capped[index] = BigInt(ignoreIndex);
    }
  }
  return tensor(capped, [batch, height, width]);
}
