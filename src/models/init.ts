/** Re-initialisation of registered parameters (src/nn layers draw PyTorch's default init in their constructor). */
import { native } from '../torch/native.js';
import { noGrad } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';

/** Overwrites `parameter` in place with `draw(shape)` (e.g. kaimingNormalFanOut); the draw is freed. */
export function reinitialise(parameter: Tensor, draw: (shape: number[]) => Tensor): void {
  const values = draw(parameter.shape);
  try {
    noGrad(() => native.copyInto(parameter.handle, values.handle));
  } finally {
    values.dispose();
  }
}
