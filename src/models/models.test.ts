/**
 * The parametrised suite over every backbone x output stride (small widths, 2 x 3 x 64 x 64 inputs):
 * shapes, strides and channel counts (also at sizes that are not multiples of the stride), unit-norm
 * embeddings, BatchNorm train/eval switching, state-dict round trip through safetensors, no leaked
 * tensors, rejected input shapes.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualSeed, randn } from '../torch/creation.js';
import { liveTensorCount, noGrad, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { loadSafetensors, saveSafetensors } from '../torch/safetensors.js';
import { ShapeError } from '../errors.js';
import { buildModel } from './build.js';
import { Classifier, ProjectionHead } from './heads.js';
import { SegmentationModel } from './segmentation-model.js';
import type { BackboneKind, DeepLabV3PlusConfig, OutputStride } from './config.js';
import type { DeepLabV3Plus } from './deeplabv3plus.js';

const WIDTH = 0.25;
const SIZE = 64;
const BATCH = 2;
const SMALL = { asppChannels: 32, reductionChannels: 12, decoderChannels: 24 };
/**
 * Hand-computed channels at width 0.25: ResNet stage planes 16, 32, 64, 128; ResNet-50 expands by 4.
 * MobileNetV2: 24 * 0.25 = 6 rounds up to the minimum multiple of 8; the final 1x1 conv keeps 1280 below width 1.
 */
const EXPECTED_CHANNELS: Record<BackboneKind, { low: number; high: number }> = {
  resnet18: { low: 16, high: 128 },
  resnet34: { low: 16, high: 128 },
  resnet50: { low: 64, high: 512 },
  mobilenetv2: { low: 8, high: 1280 },
};
/** The first BatchNorm of each backbone (torchvision's names). */
const FIRST_BATCH_NORM: Record<BackboneKind, string> = {
  resnet18: 'bn1', resnet34: 'bn1', resnet50: 'bn1', mobilenetv2: 'features.0.1',
};
const temp = mkdtempSync(join(tmpdir(), 'contraseg-models-'));
after(() => rmSync(temp, { recursive: true, force: true }));

function config(kind: BackboneKind, outputStride: OutputStride): DeepLabV3PlusConfig {
  return { backbone: { kind, outputStride, widthMultiplier: WIDTH }, ...SMALL };
}

function maxAbsDifference(a: Tensor, b: Tensor): number {
  return scope(() => a.sub(b).abs().amax().item());
}

function withNetwork(kind: BackboneKind, outputStride: OutputStride, body: (network: DeepLabV3Plus) => void): void {
  manualSeed(1);
  const network = buildModel(config(kind, outputStride));
  try {
    body(network);
  } finally {
    network.dispose();
  }
}

for (const kind of ['resnet18', 'resnet34', 'resnet50', 'mobilenetv2'] as const) {
  for (const outputStride of [8, 16] as const) {
    describe(`DeepLabV3+ ${kind}, output stride ${outputStride}`, () => {
      it('backbone features have the stated channels at strides 4 and outputStride; the network outputs stride 4', () => {
        withNetwork(kind, outputStride, (network) => noGrad(() => scope(() => {
          const images = randn([BATCH, 3, SIZE, SIZE]);
          const { low, high } = network.backbone.forward(images);
          assert.deepEqual([network.backbone.lowChannels, network.backbone.highChannels],
            [EXPECTED_CHANNELS[kind].low, EXPECTED_CHANNELS[kind].high]);
          assert.deepEqual(low.shape, [BATCH, EXPECTED_CHANNELS[kind].low, SIZE / 4, SIZE / 4]);
          assert.deepEqual(high.shape, [BATCH, EXPECTED_CHANNELS[kind].high, SIZE / outputStride, SIZE / outputStride]);
          assert.equal(network.backbone.outputStride, outputStride);
          assert.deepEqual(network.aspp.rates, outputStride === 16 ? [6, 12, 18] : [12, 24, 36]);
          const features = network.forward(images);
          assert.deepEqual(features.shape, [BATCH, SMALL.decoderChannels, SIZE / 4, SIZE / 4]);
          assert.equal(network.outChannels, SMALL.decoderChannels);
        })));
      });

      it('the projection head outputs unit-norm embeddings at every pixel', () => {
        withNetwork(kind, outputStride, (network) => {
          const head = new ProjectionHead(network.outChannels, { width: 16 });
          try {
            noGrad(() => scope(() => {
              const embeddings = head.forward(network.forward(randn([BATCH, 3, SIZE, SIZE])));
              assert.deepEqual(embeddings.shape, [BATCH, 16, SIZE / 4, SIZE / 4]);
              const norms = embeddings.mul(embeddings).sum(1).sqrt().toArray(); // [B, H/4, W/4]
              assert.equal(norms.length, BATCH * (SIZE / 4) ** 2);
              for (const norm of norms) assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
            }));
          } finally {
            head.dispose();
          }
        });
      });

      it('BatchNorm uses and updates batch statistics in training mode, running statistics in eval mode', () => {
        withNetwork(kind, outputStride, (network) => scope(() => {
          const images = randn([BATCH, 3, SIZE, SIZE]);
          const runningMean = network.backbone.stateDict().get(`${FIRST_BATCH_NORM[kind]}.running_mean`) as Tensor;
          const counter = network.backbone.stateDict().get(`${FIRST_BATCH_NORM[kind]}.num_batches_tracked`) as Tensor;
          network.eval();
          const before = runningMean.clone();
          const evalOutput = noGrad(() => network.forward(images));
          const evalAgain = noGrad(() => network.forward(images));
          assert.equal(maxAbsDifference(evalOutput, evalAgain), 0, 'eval is deterministic');
          assert.equal(maxAbsDifference(runningMean, before), 0, 'eval leaves running statistics alone');
          assert.equal(counter.item(), 0);
          network.train();
          assert.ok(network.namedModules().every(([, module]) => module.training));
          const trainOutput = noGrad(() => network.forward(images));
          assert.ok(maxAbsDifference(runningMean, before) > 0, 'training updates running statistics');
          assert.equal(counter.item(), 1);
          assert.ok(maxAbsDifference(trainOutput, evalOutput) > 1e-3, 'batch statistics differ from the fresh running ones');
          network.eval();
          assert.ok(network.namedModules().every(([, module]) => !module.training));
        }));
      });

      it('a state dict saved to safetensors loads into a fresh model with identical outputs', () => {
        withNetwork(kind, outputStride, (network) => {
          const file = join(temp, `${kind}-${outputStride}.safetensors`);
          noGrad(() => scope(() => { network.forward(randn([BATCH, 3, SIZE, SIZE])); })); // non-trivial BN statistics
          saveSafetensors(file, network.stateDict());
          manualSeed(2);
          const fresh = buildModel(config(kind, outputStride));
          const { tensors } = loadSafetensors(file);
          try {
            fresh.loadStateDict(tensors);
            network.eval();
            fresh.eval();
            noGrad(() => scope(() => {
              const images = randn([BATCH, 3, SIZE, SIZE]);
              assert.equal(maxAbsDifference(network.forward(images), fresh.forward(images)), 0);
            }));
          } finally {
            for (const tensor of tensors.values()) tensor.dispose();
            fresh.dispose();
          }
        });
      });

      it('a forward pass inside scope leaves no tensor behind, in training and in eval mode', () => {
        withNetwork(kind, outputStride, (network) => {
          const images = randn([BATCH, 3, SIZE, SIZE]);
          const before = liveTensorCount();
          scope(() => { network.forward(images).sum().backward(); });
          network.eval();
          noGrad(() => scope(() => { network.forward(images); }));
          network.zeroGrad();
          assert.equal(liveTensorCount(), before);
          images.dispose();
        });
      });

      it('takes any image size: features at ceil(H/4) x ceil(W/4), logits at the input size (180x240, 97x131)', () => {
        withNetwork(kind, outputStride, (network) => {
          const model = new SegmentationModel(network, new Classifier(network.outChannels, 3));
          try {
            for (const [height, width] of [[180, 240], [97, 131]]) {
              noGrad(() => scope(() => {
                const images = randn([1, 3, height, width]);
                const { low, high } = network.backbone.eval().forward(images);
                // Every stride-2 conv (and ResNet's max pool) outputs ceil(size / 2): ceil(180/16) = 12, ceil(97/8) = 13.
                assert.deepEqual(low.shape.slice(2), [Math.ceil(height / 4), Math.ceil(width / 4)]);
                assert.deepEqual(high.shape.slice(2), [Math.ceil(height / outputStride), Math.ceil(width / outputStride)]);
                model.eval();
                assert.deepEqual(model.forward(images).shape, [1, 3, Math.ceil(height / 4), Math.ceil(width / 4)]);
                assert.deepEqual(model.forwardAtInputSize(images).shape, [1, 3, height, width]);
              }));
            }
            model.train();
            scope(() => { model.forwardAtInputSize(randn([BATCH, 3, 97, 131])).sum().backward(); }); // training at odd sizes too
          } finally {
            model.head.dispose();
          }
        });
      });

      it('rejects inputs that are not [B, 3, H, W] with positive sizes, saying how to fix them', () => {
        withNetwork(kind, outputStride, (network) => scope(() => {
          assert.throws(() => network.forward(randn([3, SIZE, SIZE])), (error: unknown) =>
            error instanceof ShapeError && /expected images \[B, 3, H, W\], got \[3, 64, 64\]/.test(error.message) && /unsqueeze\(0\)/.test(error.message));
          assert.throws(() => network.forward(randn([1, 1, SIZE, SIZE])), (error: unknown) =>
            error instanceof ShapeError && /got \[1, 1, 64, 64\]/.test(error.message));
          assert.throws(() => network.forward(randn([1, 3, 0, 70])), (error: unknown) =>
            error instanceof ShapeError && error.message.includes('positive height and width, got [1, 3, 0, 70]'));
        }));
      });
    });
  }
}
