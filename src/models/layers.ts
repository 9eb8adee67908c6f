/**
 * Two small layers src/nn does not have yet (flagged to the lead; candidates to move there):
 * AdaptiveAvgPool2d and LayerList (torch.nn.ModuleList: children named '0', '1', ... that are not chained).
 */
import { Layer, Module } from '../nn/index.js';
import type { Tensor } from '../torch/tensor.js';
import { adaptiveAvgPool2d } from '../torch/ops/functional.js';

/** Average pooling to a fixed output size: [B, C, H, W] -> [B, C, outputSize[0], outputSize[1]]. No state. */
export class AdaptiveAvgPool2d extends Layer {
  readonly outputSize: [number, number];
  constructor(outputSize: number | [number, number]) {
    super();
    this.outputSize = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  }
  forward(input: Tensor): Tensor {
    return adaptiveAvgPool2d(input, this.outputSize);
  }
}

/** Holds layers under the names '0', '1', ... (PyTorch's ModuleList) without chaining them. */
export class LayerList<L extends Layer = Layer> extends Module {
  readonly items: readonly L[];
  constructor(items: L[]) {
    super();
    this.items = items;
    items.forEach((item, index) => this.registerModule(String(index), item));
  }
}
