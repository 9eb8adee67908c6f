/**
 * Inference-time folding of BatchNorm into the preceding convolution: in eval mode
 * BN(conv(x)) = conv'(x) with w' = w * s and b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps).
 * One pass over the activations instead of two.
 */
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Identity, type Layer, ReLU, ReLU6, Sequential } from './layers.js';
import { noGrad, scope } from '../torch/scope.js';
import { native } from '../torch/native.js';
import { ConfigError, ShapeError } from '../errors.js';

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

/** Layers whose output does not depend on train/eval mode, so the copy can share them with the original. */
function isModeFree(layer: Layer): boolean {
  if (layer instanceof Conv2d || layer instanceof ReLU || layer instanceof ReLU6 || layer instanceof Identity || layer instanceof AdaptiveAvgPool2d) return true;
  // Another layer is shared when nothing under it depends on the mode (the Module contract: BatchNorm and Dropout).
  return layer.namedModules().every(([, module]) => !(module instanceof BatchNorm2d || module instanceof Dropout));
}

/** A BatchNorm2d in eval mode with copies of `bn`'s parameters and statistics. */
function copyBatchNorm(bn: BatchNorm2d): BatchNorm2d {
  const copy = new BatchNorm2d(bn.numFeatures, { eps: bn.eps, momentum: bn.momentum });
  noGrad(() => {
    for (const [target, source] of [[copy.weight, bn.weight], [copy.bias, bn.bias], [copy.runningMean, bn.runningMean],
      [copy.runningVar, bn.runningVar], [copy.numBatchesTracked, bn.numBatchesTracked]] as const) native.copyInto(target.handle, source.handle);
  });
  return copy.eval();
}

/**
 * An eval-mode copy of a Sequential for inference, leaving `model` and its mode untouched: every Conv2d
 * directly followed by a BatchNorm2d becomes their fusion, another BatchNorm2d an eval-mode copy, a Dropout
 * is left out (the identity in eval mode), a nested Sequential is copied the same way. Layers whose output
 * does not depend on the mode (Conv2d, ReLU, pooling, ...) are shared with `model` (borrowed): keep `model`
 * alive while the copy is used, and dispose only the layers returned in `owned` when done.
 * @throws ConfigError for a layer that holds a BatchNorm2d or Dropout inside it (not a Sequential): it
 * would have to be shared, and would follow the original's mode.
 */
export function fuseSequentialForInference(model: Sequential): { model: Sequential; owned: Layer[] } {
  const layers: Layer[] = [];
  const owned: Layer[] = [];
  for (let i = 0; i < model.layers.length; i++) {
    const layer = model.layers[i] as Layer;
    const next = model.layers[i + 1];
    if (layer instanceof Conv2d && next instanceof BatchNorm2d) {
      const fused = fuseConvBn(layer, next);
      layers.push(fused);
      owned.push(fused);
      i++;
    } else if (layer instanceof BatchNorm2d) {
      const copy = copyBatchNorm(layer);
      layers.push(copy);
      owned.push(copy);
    } else if (layer instanceof Sequential) {
      const nested = fuseSequentialForInference(layer);
      layers.push(nested.model);
      owned.push(...nested.owned);
    } else if (layer instanceof Dropout) {
      // left out: the identity in eval mode
    } else if (isModeFree(layer)) {
      layers.push(layer);
    } else {
      throw new ConfigError(`fuseSequentialForInference: layer ${i} (${layer.constructor.name}) holds a BatchNorm2d or Dropout, ` +
        'so its output depends on train/eval mode and a shared copy would follow the original model. ' +
        'Put its layers in a Sequential, or call eval() on the original and use it directly.');
    }
  }
  const copy = new Sequential(...layers);
  copy.training = false; // this container only: train()/eval() would also switch the layers shared with `model`
  return { model: copy, owned };
}
