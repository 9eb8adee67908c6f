/** Builders from typed configs, loadBackboneWeights errors, and the stage 1 -> stage 2 head swap. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualSeed, randn, zeros } from '../torch/creation.js';
import { liveTensorCount, noGrad, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { saveSafetensors } from '../torch/safetensors.js';
import { CheckpointError, ConfigError, ShapeError, StateDictError } from '../errors.js';
import { buildBackbone, buildHead, buildModel, buildSegmentationModel, loadBackboneWeights } from './build.js';
import { Classifier, ProjectionHead } from './heads.js';
import { SegmentationModel } from './segmentation-model.js';
import type { BackboneConfig, DeepLabV3PlusConfig, HeadConfig, ResNetBackboneConfig } from './config.js';
import { atrousSchedule, makeDivisible } from './backbones/mobilenetv2.js';

const temp = mkdtempSync(join(tmpdir(), 'contraseg-build-'));
after(() => rmSync(temp, { recursive: true, force: true }));
const SMALL_BACKBONE: ResNetBackboneConfig = { kind: 'resnet18', outputStride: 16, widthMultiplier: 0.125 };
const SMALL = { backbone: SMALL_BACKBONE, asppChannels: 16, reductionChannels: 8, decoderChannels: 16 };

function configError(pattern: RegExp): (error: unknown) => boolean {
  return (error: unknown) => error instanceof ConfigError && pattern.test(error.message);
}

describe('buildModel and buildHead', () => {
  it('reject invalid configurations with a ConfigError naming the field', () => {
    assert.throws(() => buildModel({ backbone: { kind: 'resnet18', outputStride: 32 as 16 } }), configError(/outputStride must be 8 or 16, got 32/));
    assert.throws(() => buildModel({ backbone: { ...SMALL_BACKBONE, widthMultiplier: 0 } }), configError(/widthMultiplier must be a positive number, got 0/));
    assert.throws(() => buildModel({ backbone: { kind: 'vgg16', outputStride: 16 } as unknown as BackboneConfig }),
      configError(/unknown backbone kind 'vgg16'; expected one of resnet18, resnet34, resnet50/));
    assert.throws(() => buildModel({ ...SMALL, asppChannels: 0 }), configError(/asppChannels must be a positive integer, got 0/));
    assert.throws(() => buildModel({ ...SMALL, asppDropout: 1 }), configError(/asppDropout must be in \[0, 1\), got 1/));
    assert.throws(() => buildHead({ kind: 'linear' } as unknown as HeadConfig, 16), configError(/unknown head kind 'linear'/));
    assert.throws(() => buildHead({ kind: 'classifier', numClasses: 2.5 }, 16), configError(/numClasses must be a positive integer, got 2.5/));
    assert.throws(() => buildHead({ kind: 'projection', layers: 0 }, 16), configError(/layers must be a positive integer, got 0/));
  });

  it('scale the ASPP and decoder widths with the backbone width by default; explicit widths win', () => {
    // scaleChannels(256, 0.5) = 128, scaleChannels(48, 0.5) = 24; at width 1 the paper's 256 / 48 / 256.
    const widths = (config: DeepLabV3PlusConfig): number[] => {
      const network = buildModel(config);
      try {
        return [network.aspp.outChannels, network.decoder.reductionChannels, network.outChannels, network.config.asppChannels];
      } finally {
        network.dispose();
      }
    };
    const half = (kind: 'resnet18' | 'mobilenetv2'): BackboneConfig => ({ kind, outputStride: 16, widthMultiplier: 0.5 });
    assert.deepEqual(widths({ backbone: half('resnet18') }), [128, 24, 128, 128]);
    assert.deepEqual(widths({ backbone: half('mobilenetv2') }), [128, 24, 128, 128]);
    assert.deepEqual(widths({ backbone: half('resnet18'), asppChannels: 40, reductionChannels: 8, decoderChannels: 56 }), [40, 8, 56, 40]);
    assert.deepEqual(widths({ backbone: half('resnet18'), decoderChannels: 256 }), [128, 24, 256, 128]);
    assert.deepEqual(widths({ backbone: { kind: 'resnet18', outputStride: 16 } }), [256, 48, 256, 256]);
  });

  it('build the heads of the configuration with their documented layers and names', () => {
    const projection = buildHead({ kind: 'projection' }, 16) as ProjectionHead;
    const batchNorm = buildHead({ kind: 'projection', layers: 2, width: 8, batchNorm: true }, 16) as ProjectionHead;
    const classifier = buildHead({ kind: 'classifier', numClasses: 3 }, 16) as Classifier;
    try {
      assert.deepEqual([...projection.stateDict().keys()],
        ['layers.0.weight', 'layers.0.bias', 'layers.2.weight', 'layers.2.bias', 'layers.4.weight', 'layers.4.bias']);
      assert.equal(projection.outChannels, 256);
      assert.deepEqual([...batchNorm.stateDict().keys()], ['layers.0.weight', 'layers.1.weight', 'layers.1.bias',
        'layers.1.running_mean', 'layers.1.running_var', 'layers.1.num_batches_tracked', 'layers.3.weight', 'layers.3.bias']);
      assert.deepEqual([...classifier.stateDict().keys()], ['conv.weight', 'conv.bias']);
      assert.throws(() => scope(() => classifier.forward(randn([1, 8, 4, 4]))),
        (error: unknown) => error instanceof ShapeError && /Classifier: expected features \[B, 16, H, W\], got \[1, 8, 4, 4\]/.test(error.message));
    } finally {
      for (const head of [projection, batchNorm, classifier]) head.dispose();
    }
  });
});

describe('SegmentationModel', () => {
  it('stage 2 swaps the projection head for a classifier and keeps every network weight', () => {
    manualSeed(3);
    const stage1 = buildSegmentationModel({ network: SMALL, head: { kind: 'projection', width: 8 } });
    const networkKeys = [...stage1.network.stateDict().keys()];
    assert.ok([...stage1.stateDict().keys()].every((key) => key.startsWith('network.') || key.startsWith('head.layers.')));
    const stage2 = stage1.withHead(new Classifier(stage1.network.outChannels, 5));
    try {
      assert.equal(stage2.network, stage1.network);
      assert.deepEqual([...stage2.stateDict().keys()], [...networkKeys.map((key) => `network.${key}`), 'head.conv.weight', 'head.conv.bias']);
      for (const [key, value] of stage1.network.stateDict()) assert.equal(stage2.network.stateDict().get(key), value);
      stage2.eval();
      noGrad(() => scope(() => {
        const images = randn([1, 3, 32, 48]);
        assert.deepEqual(stage2.forward(images).shape, [1, 5, 8, 12]);
        assert.deepEqual(stage2.forwardAtInputSize(images).shape, [1, 5, 32, 48]);
      }));
      assert.throws(() => new SegmentationModel(stage1.network, new Classifier(7, 2)),
        configError(/Classifier expects 7 input channels but the network outputs 16/));
    } finally {
      stage1.head.dispose();
      stage2.dispose();
    }
  });
});

describe('loadBackboneWeights', () => {
  function backboneFile(name: string, config: BackboneConfig, edit: (state: Map<string, Tensor>) => void = () => {}): string {
    const backbone = buildBackbone(config);
    const file = join(temp, name);
    scope(() => {
      const state = new Map(backbone.stateDict());
      edit(state);
      saveSafetensors(file, state);
    });
    backbone.dispose();
    return file;
  }

  it('loads a torchvision-layout file into the backbone of a network or a segmentation model, ignoring fc', () => {
    const file = backboneFile('ok.safetensors', SMALL_BACKBONE, (state) => {
      state.set('fc.weight', zeros([10, 64]));
      state.set('fc.bias', zeros([10]));
    });
    const model = buildSegmentationModel({ network: SMALL, head: { kind: 'classifier', numClasses: 2 } });
    try {
      const before = liveTensorCount();
      assert.deepEqual(loadBackboneWeights(model, file), { ignored: ['fc.weight', 'fc.bias'] });
      assert.equal(liveTensorCount(), before, 'the tensors read from the file are freed');
      assert.deepEqual(loadBackboneWeights(model.network, file), { ignored: ['fc.weight', 'fc.bias'] });
    } finally {
      model.dispose();
    }
  });

  it('loads a torchvision-layout MobileNetV2 file, ignoring its classifier.1.*; names the backbone on a mismatch', () => {
    const config: BackboneConfig = { kind: 'mobilenetv2', outputStride: 8, widthMultiplier: 0.25 };
    const file = backboneFile('mobilenetv2.safetensors', config, (state) => {
      state.set('classifier.1.weight', zeros([10, 1280]));
      state.set('classifier.1.bias', zeros([10]));
    });
    const wider = backboneFile('mobilenetv2-wider.safetensors', { ...config, widthMultiplier: 0.5 });
    const backbone = buildBackbone(config);
    try {
      assert.deepEqual(loadBackboneWeights(backbone, file), { ignored: ['classifier.1.weight', 'classifier.1.bias'] });
      assert.throws(() => loadBackboneWeights(backbone, wider), (error: unknown) =>
        error instanceof CheckpointError && error.message.includes('do not match the mobilenetv2 (widthMultiplier 0.25) backbone') &&
        error.message.includes('shape mismatches features.0.0.weight: module has [8, 3, 3, 3], state dict has [16, 3, 3, 3]'));
    } finally {
      backbone.dispose();
    }
  });

  it('throws a CheckpointError naming the file and the mismatch (StateDictError as cause)', () => {
    const network = buildModel(SMALL);
    const wider = backboneFile('wider.safetensors', { ...SMALL_BACKBONE, widthMultiplier: 0.25 });
    const prefixed = backboneFile('prefixed.safetensors', SMALL_BACKBONE, (state) => {
      for (const [key, value] of [...state]) { state.delete(key); state.set(`module.${key}`, value); }
    });
    try {
      const before = liveTensorCount();
      assert.throws(() => loadBackboneWeights(network, wider), (error: unknown) =>
        error instanceof CheckpointError && error.file === wider && error.message.startsWith(wider) &&
        error.message.includes('do not match the resnet18 (widthMultiplier 0.125) backbone') &&
        error.message.includes('shape mismatches conv1.weight: module has [8, 3, 7, 7], state dict has [16, 3, 7, 7]') &&
        (error as { cause?: unknown }).cause instanceof StateDictError);
      assert.equal(liveTensorCount(), before, 'nothing leaks on a mismatch');
      assert.throws(() => loadBackboneWeights(network, prefixed), (error: unknown) =>
        error instanceof CheckpointError && /missing conv1\.weight, bn1\.weight/.test(error.message) &&
        /keys carry a prefix \('module\.'\)/.test(error.message));
      const missing = join(temp, 'absent.safetensors');
      assert.throws(() => loadBackboneWeights(network, missing), (error: unknown) =>
        error instanceof CheckpointError && error.file === missing && /cannot read/.test(error.message));
      const garbage = join(temp, 'garbage.safetensors');
      writeFileSync(garbage, 'not a safetensors file at all');
      assert.throws(() => loadBackboneWeights(network, garbage), (error: unknown) => error instanceof CheckpointError && error.file === garbage);
    } finally {
      network.dispose();
    }
  });
});

describe('MobileNetV2 widths and atrous schedule (hand-computed)', () => {
  it('makeDivisible rounds to the nearest multiple of 8, at least 8, never losing more than 10%', () => {
    // 24 * 0.25 = 6 -> 8 (minimum); 24 * 0.5 = 12 -> 16 (12 + 4 = 16); 96 * 0.35 = 33.6 -> 32 (>= 30.24);
    // 11 -> 8 would lose more than 10%, so 16; 1280 * 1.3 = 1664 stays.
    assert.deepEqual([6, 12, 33.6, 11, 1664].map((value) => makeDivisible(value)), [8, 16, 32, 16, 1664]);
  });

  it('atrousSchedule: stride 1 once the output stride is reached; the replaced block keeps the running dilation', () => {
    // Stem, then blocks of torchvision's mobilenet_v2 (first strides of stages 24, 32, 64, 160 are 2), then the 1x1 conv.
    const strides = [2, 1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1];
    const os16 = atrousSchedule(strides, 16);
    assert.deepEqual(os16.map((entry) => entry.stride), [2, 1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(os16.map((entry) => entry.dilation), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
    const os8 = atrousSchedule(strides, 8);
    assert.deepEqual(os8.map((entry) => entry.stride), [2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(os8.map((entry) => entry.dilation), [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 4, 4, 4, 4]);
  });
});
