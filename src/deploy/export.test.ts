/**
 * ONNX export parity: onnxruntime-node on the exported graph against libtorch eval-mode logits
 * (forwardAtInputSize), for every backbone kind, at sizes no output stride divides.
 *
 * Tolerance: the two runtimes compute the same float32 arithmetic in different orders (oneDNN vs MLAS
 * blocking, BatchNorm folded in float64 here vs applied in float32 by libtorch), so they differ by
 * rounding only, i.e. in proportion to the magnitude of the values. A length-n float32 dot product's
 * rounding error behaves like a random walk, ~sqrt(n) u relative (u = 2^-24): 1.4e-6 to 6.4e-6 per layer
 * here (n from 576, a 3x3 conv over 64 channels, to 11520, MobileNetV2's ASPP 3x3 over 1280 channels). That
 * is an estimate, not a bound (float32ChainBound's worst case is orders looser); measured end to end it is
 * 1e-6 to 2e-6 of max |logit|. So an absolute tolerance only means something at a stated logit magnitude:
 * the models are scaled to max |logit| = 5 on a probe (LOGIT_SCALE; 5-15 on the test images, the order of
 * a trained model's logits), where the required 1e-4 is >= 6.7e-6 relative, 3-7x the measured error, and
 * the test checks that max |logit| really is >= 2 so it cannot pass on near-zero outputs. Real export
 * mistakes are far above it: align_corners instead of half_pixel gives differences of 2-5, BatchNorm left
 * unfolded ~9 (both tried by mutation).
 * Argmax agreement >= 99.9%: pixels whose top two logits are closer than the difference may flip.
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/batch.js';
import { CheckpointError, ConfigError } from '../errors.js';
import { ProjectionHead } from '../models/heads.js';
import { SegmentationModel } from '../models/segmentation-model.js';
import type { BackboneKind, OutputStride } from '../models/config.js';
import { manualSeed, randn } from '../torch/creation.js';
import { liveTensorCount, noGrad, scope } from '../torch/scope.js';
import { exportOnnx, writeModelFile } from './export.js';
import { METADATA_KEYS } from './metadata.js';
import { readModelInfo } from './onnx-graph.js';
import { classTable, perturbedModel } from './parity-fixture.js';

const NUM_CLASSES = 5;
const MAX_ABS_DIFFERENCE = 1e-4;
const MIN_ARGMAX_AGREEMENT = 0.999;
const PYTHON = process.env.CONTRASEG_PYTHON ?? '/usr/bin/python3';
const temp = mkdtempSync(join(tmpdir(), 'contraseg-export-'));
after(() => rmSync(temp, { recursive: true, force: true }));

interface ParityCase {
  kind: BackboneKind;
  outputStride: OutputStride;
  width: number;
  sizes: [number, number][];
}

/** Every backbone kind at least once; ResNet-18 at both sizes and both strides. */
const CASES: ParityCase[] = [
  { kind: 'resnet18', outputStride: 16, width: 0.25, sizes: [[97, 131], [180, 240]] },
  { kind: 'resnet18', outputStride: 8, width: 0.25, sizes: [[97, 131]] },
  { kind: 'resnet34', outputStride: 16, width: 0.125, sizes: [[97, 131]] },
  { kind: 'resnet50', outputStride: 16, width: 0.125, sizes: [[97, 131]] },
  { kind: 'mobilenetv2', outputStride: 16, width: 0.25, sizes: [[180, 240], [97, 131]] },
];

/** libtorch's logits and the input they came from, for a seeded N(0, 1) normalised image. */
function reference(model: SegmentationModel, height: number, width: number): { input: Float32Array; logits: Float32Array } {
  return noGrad(() => scope(() => {
    manualSeed(height * 1000 + width);
    const images = randn([1, 3, height, width]); // [1, 3, H, W], already normalised
    return { input: images.toTypedArray() as Float32Array, logits: model.forwardAtInputSize(images).toTypedArray() as Float32Array };
  }));
}

function compare(actual: Float32Array, expected: Float32Array, classes: number, pixels: number): { maxDifference: number; maxLogit: number; agreement: number } {
  let maxDifference = 0;
  let maxLogit = 0;
  for (let index = 0; index < expected.length; index++) {
    maxDifference = Math.max(maxDifference, Math.abs((actual[index] as number) - (expected[index] as number)));
    maxLogit = Math.max(maxLogit, Math.abs(expected[index] as number));
  }
  let agree = 0;
  for (let pixel = 0; pixel < pixels; pixel++) {
    let bestActual = 0;
    let bestExpected = 0;
    for (let channel = 1; channel < classes; channel++) {
      if ((actual[channel * pixels + pixel] as number) > (actual[bestActual * pixels + pixel] as number)) bestActual = channel;
      if ((expected[channel * pixels + pixel] as number) > (expected[bestExpected * pixels + pixel] as number)) bestExpected = channel;
    }
    if (bestActual === bestExpected) agree++;
  }
  return { maxDifference, maxLogit, agreement: agree / pixels };
}

function onnxCheckerAvailable(): boolean {
  return spawnSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0;
}

describe('ONNX export: onnxruntime-node matches libtorch eval-mode logits', () => {
  for (const testCase of CASES) {
    const name = `${testCase.kind} x${testCase.width} OS ${testCase.outputStride}`;
    describe(name, () => {
      let model: SegmentationModel;
      let bytes: Uint8Array;
      let session: ort.InferenceSession;
      before(async () => {
        model = perturbedModel(testCase.kind, testCase.outputStride, testCase.width, NUM_CLASSES);
        bytes = exportOnnx(model, { ...classTable(NUM_CLASSES), mean: IMAGENET_MEAN, std: IMAGENET_STD });
        session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
      });
      after(async () => {
        await session?.release();
        model?.dispose();
      });
      for (const [height, width] of testCase.sizes) {
        it(`${height}x${width}: max |logit difference| <= 1e-4, argmax agreement >= 99.9%`, async (t) => {
          const expected = reference(model, height, width);
          const outputs = await session.run({ image: new ort.Tensor('float32', expected.input, [1, 3, height, width]) });
          const logits = outputs.logits as ort.Tensor;
          assert.deepEqual(logits.dims, [1, NUM_CLASSES, height, width]);
          const result = compare(logits.data as Float32Array, expected.logits, NUM_CLASSES, height * width);
          t.diagnostic(`max |difference| ${result.maxDifference.toExponential(2)}, max |logit| ${result.maxLogit.toFixed(2)}, argmax agreement ${result.agreement}`);
          assert.ok(result.maxLogit >= 2 && result.maxLogit <= 40, `logits of the order of a trained model's, got max |logit| ${result.maxLogit}`);
          assert.ok(result.maxDifference <= MAX_ABS_DIFFERENCE,
            `max |difference| ${result.maxDifference} (${(result.maxDifference / result.maxLogit).toExponential(2)} of max |logit| ${result.maxLogit.toFixed(2)})`);
          assert.ok(result.agreement >= MIN_ARGMAX_AGREEMENT, `argmax agreement ${result.agreement}`);
        });
      }
      it('declares opset 17, dynamic N/H/W, input image / output logits and the metadata', () => {
        const info = readModelInfo(bytes);
        assert.equal(info.opset, 17);
        assert.deepEqual(info.inputs, ['image']);
        assert.deepEqual(info.outputs, ['logits']);
        assert.deepEqual(JSON.parse(info.metadata.get(METADATA_KEYS.classNames) as string), classTable(NUM_CLASSES).classNames);
        assert.deepEqual(JSON.parse(info.metadata.get(METADATA_KEYS.mean) as string), IMAGENET_MEAN);
        assert.equal(info.metadata.get(METADATA_KEYS.outputStride), String(testCase.outputStride));
        assert.equal(session.inputNames[0], 'image');
      });
      it('passes onnx.checker.check_model(full_check=True) (dev check, where python3-onnx is installed)', (t) => {
        if (!onnxCheckerAvailable()) {
          t.skip(`${PYTHON} has no onnx module (Debian: apt install python3-onnx, or npm run setup -- --dev)`);
          return;
        }
        const file = join(temp, `${testCase.kind}-${testCase.outputStride}.onnx`);
        writeFileSync(file, bytes);
        const script = 'import sys, onnx; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); ' +
          'print([d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim])';
        const run = spawnSync(PYTHON, ['-c', script, file], { encoding: 'utf8' });
        assert.equal(run.status, 0, run.stderr);
        assert.equal(run.stdout.trim(), "['N', 3, 'H', 'W']");
      });
    });
  }
});

describe('ONNX export: logit adjustment', () => {
  it('carries the classifier\'s eval-mode logit offset (same 1e-4 as above: the offsets, |value| <= 3, add no rounding of note)', async () => {
    const model = perturbedModel('resnet18', 16, 0.25, NUM_CLASSES);
    const session = { current: undefined as ort.InferenceSession | undefined };
    try {
      model.head.setLogitOffset([-1.5, 0.75, 3, -0.25, 2]); // the order of -log(class share) at tau 1
      const bytes = exportOnnx(model, { ...classTable(NUM_CLASSES), mean: IMAGENET_MEAN, std: IMAGENET_STD });
      session.current = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
      const [height, width] = [97, 131];
      const expected = reference(model, height, width);
      const outputs = await session.current.run({ image: new ort.Tensor('float32', expected.input, [1, 3, height, width]) });
      const result = compare((outputs.logits as ort.Tensor).data as Float32Array, expected.logits, NUM_CLASSES, height * width);
      assert.ok(result.maxDifference <= MAX_ABS_DIFFERENCE, `max |difference| ${result.maxDifference}, max |logit| ${result.maxLogit}`);
      assert.ok(result.agreement >= MIN_ARGMAX_AGREEMENT, `argmax agreement ${result.agreement}`);
    } finally {
      await session.current?.release();
      model.dispose();
    }
  });
});

describe('ONNX export: refusals', () => {
  it('rejects a model with the projection head (stage 1) with a ConfigError saying to fine-tune', () => {
    const model = perturbedModel('resnet18', 16, 0.0625, NUM_CLASSES);
    const stage1 = model.withHead(new ProjectionHead(model.network.outChannels, { width: 8 }));
    try {
      assert.throws(() => exportOnnx(stage1 as SegmentationModel, { ...classTable(NUM_CLASSES), mean: IMAGENET_MEAN, std: IMAGENET_STD }),
        (error: unknown) => error instanceof ConfigError && /classifier head/.test(error.message) && /finetune/.test(error.message));
    } finally {
      stage1.head.dispose();
      model.dispose();
    }
  });
  it('rejects a class table of the wrong length, and leaks no tensor', () => {
    const before = liveTensorCount();
    const model = perturbedModel('resnet18', 16, 0.0625, NUM_CLASSES);
    try {
      assert.throws(() => exportOnnx(model, { ...classTable(NUM_CLASSES + 1), mean: IMAGENET_MEAN, std: IMAGENET_STD }),
        (error: unknown) => error instanceof ConfigError && /6 names and 6 colours but the classifier has 5 classes/.test(error.message));
      exportOnnx(model, { ...classTable(NUM_CLASSES), mean: IMAGENET_MEAN, std: IMAGENET_STD });
    } finally {
      model.dispose();
    }
    assert.equal(liveTensorCount(), before);
  });
  it('rejects an opset below 17', () => {
    const model = perturbedModel('resnet18', 16, 0.0625, NUM_CLASSES);
    try {
      assert.throws(() => exportOnnx(model, { ...classTable(NUM_CLASSES), mean: IMAGENET_MEAN, std: IMAGENET_STD, opset: 13 }),
        (error: unknown) => error instanceof ConfigError && /opset must be an integer >= 17, got 13/.test(error.message));
    } finally {
      model.dispose();
    }
  });
});

describe('writeModelFile', () => {
  it('writes the bytes under the final name and leaves no temp file; a missing folder is a CheckpointError naming the file', () => {
    const folder = mkdtempSync(join(temp, 'write-'));
    const file = join(folder, 'model.onnx');
    writeModelFile(file, Uint8Array.of(1, 2, 3));
    assert.deepEqual([...readFileSync(file)], [1, 2, 3]);
    assert.deepEqual(readdirSync(folder), ['model.onnx']);
    const missing = join(folder, 'no', 'such', 'model.onnx');
    assert.throws(() => writeModelFile(missing, Uint8Array.of(1)),
      (error: unknown) => error instanceof CheckpointError && error.message.startsWith(`${missing}: cannot write the ONNX model`));
    assert.equal(existsSync(missing), false);
  });
});
