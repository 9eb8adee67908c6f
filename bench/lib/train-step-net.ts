/**
 * The engine benchmark's network (issue 2), built with contraseg's nn, and a timing helper:
 * stem conv3x3/2 (3->32)+BN+ReLU; four stages of two [conv3x3+BN+ReLU] (32, 64, 128, 256 channels,
 * first-conv strides 1, 2, 2, 1); conv1x1 256->256+BN+ReLU; conv1x1 256->12; bilinear upsample to the
 * input; cross-entropy (ignore 255); SGD momentum 0.9. bench/train_step.py builds the same in PyTorch.
 */
import { BatchNorm2d, Conv2d, type Layer, ReLU, Sequential } from '../../src/nn/layers.js';
import { SGD } from '../../src/torch/optim/sgd.js';
import { manualSeed, randint, randn } from '../../src/torch/creation.js';
import { keep, noGrad, scope } from '../../src/torch/scope.js';
import { crossEntropy, interpolate, toMemoryFormat } from '../../src/torch/ops/functional.js';
import { fuseSequentialForInference } from '../../src/nn/fuse.js';
import type { Tensor } from '../../src/torch/tensor.js';

/** Classes of the benchmark's label maps. */
export const BENCH_CLASSES = 12;

function convBnRelu(inChannels: number, outChannels: number, kernel: number, stride: number): Layer[] {
  return [new Conv2d(inChannels, outChannels, { kernelSize: kernel, stride, padding: (kernel - 1) / 2, bias: false }),
    new BatchNorm2d(outChannels), new ReLU()];
}

/** Builds the benchmark network. */
export function buildBenchNet(): Sequential {
  const layers: Layer[] = [...convBnRelu(3, 32, 3, 2)];
  const stages: [number, number, number][] = [[32, 32, 1], [32, 64, 2], [64, 128, 2], [128, 256, 1]];
  for (const [inChannels, outChannels, stride] of stages) {
    layers.push(...convBnRelu(inChannels, outChannels, 3, stride), ...convBnRelu(outChannels, outChannels, 3, 1));
  }
  layers.push(...convBnRelu(256, 256, 1, 1), new Conv2d(256, BENCH_CLASSES, { kernelSize: 1 }));
  return new Sequential(...layers);
}

/** Options of the timing helpers. */
export interface StepTimingOptions {
  steps?: number;
  warmup?: number;
  batch?: number;
  size?: number;
  /** Parameters and inputs in channels-last layout (oneDNN without reorders). */
  channelsLast?: boolean;
  /** Inference with BatchNorm folded into the convolutions. */
  fuseEval?: boolean;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Median training-step and inference times (ms) of the benchmark network in contraseg. */
export function timeContrasegSteps(options: StepTimingOptions = {}): { trainMs: number; inferMs: number } {
  const steps = options.steps ?? 20;
  const warmup = options.warmup ?? 3;
  const batch = options.batch ?? 8;
  const size = options.size ?? 128;
  manualSeed(0);
  const net = buildBenchNet();
  if (options.channelsLast === true) net.setMemoryFormat('channels_last');
  const optimizer = new SGD(net.parameters(), { lr: 0.01, momentum: 0.9 });
  const images = keep(scope(() => {
    const drawn = randn([batch, 3, size, size]);
    return options.channelsLast === true ? toMemoryFormat(drawn, 'channels_last') : drawn;
  }));
  const labels = keep(randint(0, BENCH_CLASSES, [batch, size, size]));
  let model: Sequential = net;
  const forward = (): Tensor => interpolate(model.forward(images), [size, size], 'bilinear', false);
  const trainTimes: number[] = [];
  for (let step = 0; step < warmup + steps; step++) {
    const start = performance.now();
    scope(() => {
      const loss = crossEntropy(forward(), labels, { ignoreIndex: 255 });
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
    });
    if (step >= warmup) trainTimes.push(performance.now() - start);
  }
  net.eval();
  const fused = options.fuseEval === true ? fuseSequentialForInference(net) : undefined;
  if (fused !== undefined) model = fused.model;
  const inferTimes: number[] = [];
  for (let step = 0; step < warmup + steps; step++) {
    const start = performance.now();
    noGrad(() => scope(() => { forward(); }));
    if (step >= warmup) inferTimes.push(performance.now() - start);
  }
  fused?.owned.forEach((conv) => conv.dispose());
  optimizer.dispose();
  net.dispose();
  images.dispose();
  labels.dispose();
  return { trainMs: median(trainTimes), inferMs: median(inferTimes) };
}

/** Median training-step time (ms) of the engine benchmark's network, batch 8 x 3 x 128 x 128. */
export async function medianContrasegTrainStepMs(options: { steps?: number; warmup?: number } = {}): Promise<number> {
  return timeContrasegSteps(options).trainMs;
}
