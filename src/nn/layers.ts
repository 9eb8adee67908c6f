/** The basic layers: Conv2d, BatchNorm2d, ReLU, Dropout, Identity, Sequential. */
import { Module } from './module.js';
import { defaultConvWeight, fans, uniform } from './init.js';
import { ones, zeros } from '../torch/creation.js';
import { native } from '../torch/native.js';
import type { Tensor } from '../torch/tensor.js';
import { adaptiveAvgPool2d, batchNorm, conv2d, dropout, pair, type Pair } from '../torch/ops/functional.js';
import { ConfigError, ShapeError } from '../errors.js';

/** A module mapping one tensor to one tensor; what Sequential chains. */
export abstract class Layer extends Module {
  /** Applies the layer. The input is borrowed; the result belongs to the caller. */
  abstract forward(input: Tensor): Tensor;
}

/** Options of Conv2d. */
export interface Conv2dConfig {
  kernelSize: Pair;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  /** Default true. */
  bias?: boolean;
  /** Draws the initial weight for a shape (default: PyTorch's, defaultConvWeight), e.g. kaimingNormalFanOut. */
  weightInit?: (shape: number[]) => Tensor;
}

/** 2-D convolution: [B, inChannels, H, W] -> [B, outChannels, H', W']. Parameters `weight`, `bias`. */
export class Conv2d extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(inChannels: number, outChannels: number, config: Conv2dConfig) {
    super();
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair(config.kernelSize);
    this.stride = pair(config.stride ?? 1);
    this.padding = pair(config.padding ?? 0);
    this.dilation = pair(config.dilation ?? 1);
    this.groups = config.groups ?? 1;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new ShapeError(`Conv2d: channels ${inChannels} -> ${outChannels} are not divisible by groups ${this.groups}`);
    }
    const shape = [outChannels, inChannels / this.groups, ...this.kernelSize];
    this.weight = this.registerParameter('weight', (config.weightInit ?? defaultConvWeight)(shape));
    this.bias = config.bias ?? true ? this.registerParameter('bias', uniform([outChannels], 1 / Math.sqrt(fans(shape).fanIn))) : null;
  }

  forward(input: Tensor): Tensor {
    const channels = input.shape[1];
    if (input.rank !== 4 || channels !== this.inChannels) {
      throw new ShapeError(`Conv2d(${this.inChannels} -> ${this.outChannels}): expected input [B, ${this.inChannels}, H, W], ` +
        `got [${input.shape.join(', ')}]`);
    }
    return conv2d(input, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }
}

/** Options of BatchNorm2d (PyTorch's defaults). */
export interface BatchNorm2dConfig {
  eps?: number;
  momentum?: number;
}

/**
 * Batch normalisation over channels of [B, C, H, W]. Parameters `weight`, `bias`; buffers
 * `running_mean`, `running_var`, `num_batches_tracked` (PyTorch's names, so torchvision weights load).
 */
export class BatchNorm2d extends Layer {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;

  constructor(numFeatures: number, config: BatchNorm2dConfig = {}) {
    super();
    this.numFeatures = numFeatures;
    this.eps = config.eps ?? 1e-5;
    this.momentum = config.momentum ?? 0.1;
    this.weight = this.registerParameter('weight', ones([numFeatures]));
    this.bias = this.registerParameter('bias', zeros([numFeatures]));
    this.runningMean = this.registerBuffer('running_mean', zeros([numFeatures]));
    this.runningVar = this.registerBuffer('running_var', ones([numFeatures]));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', zeros([], 'int64'));
  }

  forward(input: Tensor): Tensor {
    if (input.rank !== 4 || input.shape[1] !== this.numFeatures) {
      throw new ShapeError(`BatchNorm2d(${this.numFeatures}): expected input [B, ${this.numFeatures}, H, W], got [${input.shape.join(', ')}]`);
    }
    if (this.training) native.addInPlace(this.numBatchesTracked.handle, 1);
    return batchNorm(input, {
      weight: this.weight, bias: this.bias, runningMean: this.runningMean, runningVar: this.runningVar,
      training: this.training, momentum: this.momentum, eps: this.eps,
    });
  }
}

/** max(x, 0). */
export class ReLU extends Layer {
  forward(input: Tensor): Tensor {
    return input.relu();
  }
}

/** min(max(x, 0), 6) (MobileNetV2's activation). */
export class ReLU6 extends Layer {
  forward(input: Tensor): Tensor {
    return input.clamp(0, 6);
  }
}

/** Drops elements with probability p in training mode (scaling the rest by 1/(1-p)); identity in eval. */
export class Dropout extends Layer {
  readonly p: number;
  /** @throws ConfigError unless 0 <= p < 1. */
  constructor(p = 0.5) {
    super();
    if (!(p >= 0 && p < 1)) throw new ConfigError(`Dropout: p is the probability of dropping an element, expected 0 <= p < 1, got ${p}.`);
    this.p = p;
  }
  forward(input: Tensor): Tensor {
    return dropout(input, this.p, this.training);
  }
}

/** Returns its input (a new handle on the same data, so ownership rules stay uniform). */
export class Identity extends Layer {
  forward(input: Tensor): Tensor {
    return input.reshape(input.shape); // a view: same storage, gradient flows through
  }
}

/** Applies layers in order; children are named '0', '1', ... as in PyTorch. */
export class Sequential extends Layer {
  readonly layers: readonly Layer[];
  constructor(...layers: Layer[]) {
    super();
    this.layers = layers;
    layers.forEach((layer, index) => this.registerModule(String(index), layer));
  }
  forward(input: Tensor): Tensor {
    let current = input;
    for (const layer of this.layers) {
      const next = layer.forward(current);
      if (current !== input) current.dispose();
      current = next;
    }
    return current === input ? input.reshape(input.shape) : current;
  }
}

/** Average pooling to a fixed output size: [B, C, H, W] -> [B, C, outputSize[0], outputSize[1]]. No state. */
export class AdaptiveAvgPool2d extends Layer {
  readonly outputSize: [number, number];
  constructor(outputSize: Pair) {
    super();
    this.outputSize = pair(outputSize);
  }
  forward(input: Tensor): Tensor {
    return adaptiveAvgPool2d(input, this.outputSize);
  }
}

/** Holds layers under the names '0', '1', ... without chaining them (PyTorch's ModuleList). */
export class LayerList<L extends Layer = Layer> extends Module {
  readonly items: readonly L[];
  constructor(items: L[]) {
    super();
    this.items = items;
    items.forEach((item, index) => this.registerModule(String(index), item));
  }
}
