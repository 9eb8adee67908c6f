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
import { median } from './paired.js';

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

/** One benchmark setup: a step function per command, and its disposal. */
export interface BenchSteps {
  train(): void;
  infer(): void;
  dispose(): void;
}

/** Builds the network, optimiser and a fixed batch; train() and infer() run one step each. */
export function createContrasegSteps(options: StepTimingOptions = {}): BenchSteps {
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
  let fused: ReturnType<typeof fuseSequentialForInference> | undefined;
  const logits = (model: Sequential): Tensor => interpolate(model.forward(images), [size, size], 'bilinear', false);
  return {
    train: () => scope(() => {
      net.train();
      const loss = crossEntropy(logits(net), labels, { ignoreIndex: 255 });
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
    }),
    infer: () => noGrad(() => scope(() => {
      net.eval();
      // Folded once, on the first (warm-up) inference: the benchmark runs every train step before it.
      if (options.fuseEval === true && fused === undefined) fused = fuseSequentialForInference(net);
      logits(fused?.model ?? net);
    })),
    dispose: () => {
      fused?.owned.forEach((conv) => conv.dispose());
      optimizer.dispose();
      net.dispose();
      images.dispose();
      labels.dispose();
    },
  };
}

/** Median training-step and inference times (ms) of the benchmark network in contraseg alone. */
export function timeContrasegSteps(options: StepTimingOptions = {}): { trainMs: number; inferMs: number } {
  const steps = options.steps ?? 20;
  const warmup = options.warmup ?? 3;
  const bench = createContrasegSteps(options);
  const time = (step: () => void): number => {
    const times: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      const start = performance.now();
      step();
      if (i >= warmup) times.push(performance.now() - start);
    }
    return median(times);
  };
  const trainMs = time(bench.train);
  const inferMs = time(bench.infer);
  bench.dispose();
  return { trainMs, inferMs };
}

/** Median training-step time (ms) of the engine benchmark's network, batch 8 x 3 x 128 x 128. */
export async function medianContrasegTrainStepMs(options: { steps?: number; warmup?: number } = {}): Promise<number> {
  return timeContrasegSteps(options).trainMs;
}
