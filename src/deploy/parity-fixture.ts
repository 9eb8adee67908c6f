/**
 * Test support (not exported from the package): small DeepLabV3+ models with perturbed BatchNorm
 * statistics and affine parameters, so that an exporter that mishandled BatchNorm (or skipped it)
 * would change the logits, unlike at PyTorch's init (mean 0, var 1, gamma 1, beta 0: BN is nearly the identity).
 */
import { manualSeed, rand, randn } from '../torch/creation.js';
import { native } from '../torch/native.js';
import { noGrad, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { BatchNorm2d } from '../nn/index.js';
import { buildModel } from '../models/build.js';
import { Classifier } from '../models/heads.js';
import { SegmentationModel } from '../models/segmentation-model.js';
import type { BackboneKind, OutputStride } from '../models/config.js';

/** A random-colour class table of `count` classes. */
export function classTable(count: number): { classNames: string[]; colours: [number, number, number][] } {
  return {
    classNames: Array.from({ length: count }, (_, index) => `class ${index}`),
    colours: Array.from({ length: count }, (_, index) => [(index * 53) % 256, (index * 97) % 256, (index * 193) % 256]),
  };
}

/**
 * A fine-tuned-shaped model (network + classifier of `numClasses`) in eval mode, seeded, with every
 * BatchNorm's running mean ~ N(0, 0.1^2), running var ~ U(0.5, 1.5), gamma ~ U(0.5, 1.5), beta ~ N(0, 0.1^2).
 */
export function perturbedModel(kind: BackboneKind, outputStride: OutputStride, widthMultiplier: number, numClasses: number,
  seed = 0): SegmentationModel<Classifier> {
  manualSeed(seed);
  const network = buildModel({ backbone: { kind, outputStride, widthMultiplier } });
  const model = new SegmentationModel(network, new Classifier(network.outChannels, numClasses));
  noGrad(() => scope(() => {
    for (const [, module] of model.namedModules()) {
      if (!(module instanceof BatchNorm2d)) continue;
      const shape = [module.numFeatures];
      native.copyInto(module.runningMean.handle, randn(shape).mul(0.1).handle);
      native.copyInto(module.runningVar.handle, rand(shape).add(0.5).handle);
      native.copyInto(module.weight.handle, rand(shape).add(0.5).handle);
      native.copyInto(module.bias.handle, randn(shape).mul(0.1).handle);
    }
  }));
  model.eval();
  calibrateLogits(model, LOGIT_SCALE);
  return model;
}

/**
 * Largest |logit| the parity models are scaled to on a 64x64 N(0, 1) probe (on the larger test images the
 * maximum is 2-3 times this): the order of a trained model's logits (softmax confident at differences of
 * ~10). Kaiming-initialised deep ResNets with random BatchNorm reach |logit| ~ 1000, where float32
 * rounding alone (relative ~2e-6) would exceed 1e-4 absolute.
 */
export const LOGIT_SCALE = 5;

/** Rescales the classifier (weight and bias) so that the largest |logit| on a seeded probe is `target`. */
export function calibrateLogits(model: SegmentationModel<Classifier>, target: number): void {
  noGrad(() => scope(() => {
    manualSeed(12345);
    const largest = model.forwardAtInputSize(randn([1, 3, 64, 64])).abs().amax().item();
    const conv = model.head.conv;
    const factor = target / largest;
    native.copyInto(conv.weight.handle, conv.weight.mul(factor).handle);
    native.copyInto((conv.bias as Tensor).handle, (conv.bias as Tensor).mul(factor).handle);
  }));
}
