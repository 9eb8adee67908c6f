/**
 * Inference-time folding of BatchNorm into the preceding convolution: in eval mode
 * BN(conv(x)) = conv'(x) with w' = w * s and b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps).
 * One pass over the activations instead of two.
 */
import { BatchNorm2d, Conv2d, type Layer, Sequential } from './layers.js';
import { noGrad, scope } from '../torch/scope.js';
import { native } from '../torch/native.js';
import { ShapeError } from '../errors.js';

/** A new Conv2d (owning new tensors) equal to `bn` applied after `conv` in eval mode. Inputs are borrowed. */
export function fuseConvBn(conv: Conv2d, bn: BatchNorm2d): Conv2d {
  if (bn.numFeatures !== conv.outChannels) {
    throw new ShapeError(`fuseConvBn: BatchNorm2d(${bn.numFeatures}) does not follow Conv2d(${conv.inChannels} -> ${conv.outChannels})`);
  }
  const fused = new Conv2d(conv.inChannels, conv.outChannels, {
    kernelSize: conv.kernelSize, stride: conv.stride, padding: conv.padding, dilation: conv.dilation, groups: conv.groups, bias: true,
  });
  noGrad(() => scope(() => {
    const scale = bn.weight.div(bn.runningVar.add(bn.eps).sqrt()); // [C]
    const weight = conv.weight.mul(scale.reshape([conv.outChannels, 1, 1, 1]));
    const shift = conv.bias === null ? bn.runningMean.neg() : conv.bias.sub(bn.runningMean);
    native.copyInto(fused.weight.handle, weight.handle);
    native.copyInto((fused.bias as NonNullable<Conv2d['bias']>).handle, shift.mul(scale).add(bn.bias).handle);
  }));
  return fused.eval();
}

/**
 * An eval-mode copy of a Sequential in which every Conv2d directly followed by a BatchNorm2d is replaced
 * by their fusion. The other layers are shared with `model` (borrowed): dispose only the fused convs
 * (returned in `owned`) when done, and keep `model` alive while the copy is used.
 */
export function fuseSequentialForInference(model: Sequential): { model: Sequential; owned: Conv2d[] } {
  const layers: Layer[] = [];
  const owned: Conv2d[] = [];
  for (let i = 0; i < model.layers.length; i++) {
    const layer = model.layers[i];
    const next = model.layers[i + 1];
    if (layer instanceof Conv2d && next instanceof BatchNorm2d) {
      const fused = fuseConvBn(layer, next);
      owned.push(fused);
      layers.push(fused);
      i++;
    } else {
      layers.push(layer);
    }
  }
  return { model: new Sequential(...layers).eval(), owned };
}
