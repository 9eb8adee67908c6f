/** Labels at the resolution of a feature map: the one helper every stage and loss uses. */
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
