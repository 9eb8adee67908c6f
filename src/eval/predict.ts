/**
 * Inference of a segmentation model at the input's own size, with optional test-time augmentation
 * (horizontal flip, multi-scale). Shared by `evaluate` and the CLI's `predict`.
 *
 * TTA follows mmsegmentation's `aug_test`: every view's logits are resized to the input size, turned
 * into softmax probabilities, and the probabilities are averaged (never the logits).
 */
import { ConfigError, ShapeError } from '../errors.js';
import type { Module } from '../nn/index.js';
import { OUTPUT_ALIGN_CORNERS } from '../models/segmentation-model.js';
import { noGrad, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { interpolate, softmax } from '../torch/ops/functional.js';
import { flip } from '../torch/ops/shape.js';

/**
 * What inference needs of a model: a module whose `forwardAtInputSize` gives class logits
 * [B, K, H, W] at the input size. `SegmentationModel` with a `Classifier` head is one (its head's
 * `numClasses` is K); a projection head is rejected at run time.
 */
export interface SegmentationPredictor extends Module {
  readonly head: object;
  /** images [B, 3, H, W] (borrowed) -> logits [B, K, H, W] (owned by the caller). */
  forwardAtInputSize(images: Tensor): Tensor;
}

/** Test-time augmentation. Both off by default (one forward pass per image). */
export interface TestTimeAugmentation {
  /** Also run the horizontally flipped image and flip its prediction back (default false). */
  readonly flip?: boolean;
  /** Input scales (each side resized to round(side * scale), bilinear); default [1]. */
  readonly scales?: readonly number[];
}

/** Corner alignment of the TTA resize of input images (as the models' own final resize). */
const INPUT_ALIGN_CORNERS = false;

/**
 * The number of classes K of a model's classifier head.
 * @throws ConfigError if the head has no `numClasses` (e.g. the projection head of stage 1).
 */
export function classCount(model: SegmentationPredictor): number {
  const numClasses = (model.head as { numClasses?: unknown }).numClasses;
  if (typeof numClasses !== 'number') {
    throw new ConfigError(`inference needs a classifier head, but the model's head is a ${model.head.constructor.name}. ` +
      'Swap it with model.withHead(new Classifier(model.network.outChannels, numClasses)) and fine-tune first.');
  }
  return numClasses;
}

/** @throws ConfigError unless every scale is a positive finite number and there is at least one. */
export function checkTestTimeAugmentation(tta: TestTimeAugmentation): void {
  const scales = tta.scales ?? [1];
  if (scales.length === 0 || scales.some((scale) => !(Number.isFinite(scale) && scale > 0))) {
    throw new ConfigError(`test-time augmentation: scales must be a non-empty list of positive numbers, got ${JSON.stringify(scales)}; use [1] for none`);
  }
}

/**
 * Puts every module of `model` in evaluation mode and returns a function that restores each module's
 * previous mode (mixed modes too, e.g. a backbone with frozen BatchNorm).
 */
export function enterEvalMode(model: Module): () => void {
  const modes = model.namedModules().map(([, module]) => [module, module.training] as const);
  model.eval();
  return () => {
    for (const [module, training] of modes) module.training = training;
  };
}

/** Runs `fn` in a scope without autograd, with `model` in evaluation mode (its modes restored after). */
function inference<T>(model: Module, fn: () => T): T {
  const restore = enterEvalMode(model);
  try {
    return noGrad(() => scope(fn));
  } finally {
    restore();
  }
}

function expectImages(images: Tensor): [number, number] {
  if (images.rank !== 4 || images.shape[1] !== 3 || images.dtype !== 'float32') {
    throw new ShapeError(`prediction: expected normalised float32 images [B, 3, H, W], got ${images.dtype} [${images.shape.join(', ')}]. ` +
      'Add a batch dimension with unsqueeze(0) for a single image.');
  }
  return [images.shape[2] as number, images.shape[3] as number];
}

/** Logits of one TTA view, resized back to [height, width] and un-flipped: [B, K, height, width]. */
function viewLogits(model: SegmentationPredictor, images: Tensor, scale: number, flipped: boolean): Tensor {
  const [height, width] = expectImages(images);
  return scope(() => {
    const scaled = scale === 1 ? images
      : interpolate(images, [Math.max(1, Math.round(height * scale)), Math.max(1, Math.round(width * scale))], 'bilinear', INPUT_ALIGN_CORNERS);
    const input = flipped ? flip(scaled, [3]) : scaled;
    const logits = model.forwardAtInputSize(input); // [B, K, h', w']
    const upright = flipped ? flip(logits, [3]) : logits;
    return scale === 1 ? upright : interpolate(upright, [height, width], 'bilinear', OUTPUT_ALIGN_CORNERS);
  });
}

function checkLogits(logits: Tensor, images: Tensor, numClasses: number): void {
  const [batch, , height, width] = images.shape;
  const expected = [batch, numClasses, height, width];
  if (logits.shape.join() !== expected.join()) {
    throw new ShapeError(`prediction: the model returned logits [${logits.shape.join(', ')}] for images [${images.shape.join(', ')}], ` +
      `expected [${expected.join(', ')}] (forwardAtInputSize must give ${numClasses} class logits at the input size)`);
  }
}

/**
 * Class probabilities [B, K, H, W] float32 (owned by the caller) of images [B, 3, H, W] float32
 * (normalised; borrowed) at their own size: softmax of the logits, averaged over the TTA views. Runs
 * without autograd and in evaluation mode (the model's previous modes are restored).
 * @throws ShapeError for bad image shapes or logits; ConfigError for a non-classifier head or bad TTA.
 */
export function predictProbabilities(model: SegmentationPredictor, images: Tensor, tta: TestTimeAugmentation = {}): Tensor {
  checkTestTimeAugmentation(tta);
  expectImages(images);
  const numClasses = classCount(model);
  const views = (tta.scales ?? [1]).flatMap((scale) => (tta.flip === true ? [[scale, false], [scale, true]] as const : [[scale, false]] as const));
  return inference(model, () => {
    let sum: Tensor | undefined;
    for (const [scale, flipped] of views) {
      const probabilities = scope(() => {
        const logits = viewLogits(model, images, scale, flipped);
        checkLogits(logits, images, numClasses);
        return softmax(logits, 1); // [B, K, H, W]
      });
      const previous = sum;
      sum = previous === undefined ? probabilities : previous.add(probabilities);
      if (previous !== undefined) { // free as we go: views x [B, K, H, W] would otherwise pile up
        previous.dispose();
        probabilities.dispose();
      }
    }
    return (sum as Tensor).div(views.length);
  });
}

/**
 * Predicted class ids [B, H, W] int64 (owned by the caller) of images [B, 3, H, W] float32 (normalised;
 * borrowed) at their own size: argmax of the logits, or of the averaged probabilities with TTA. Runs
 * without autograd and in evaluation mode (the model's previous modes are restored).
 * @throws ShapeError for bad image shapes or logits; ConfigError for a non-classifier head or bad TTA.
 */
export function predictMasks(model: SegmentationPredictor, images: Tensor, tta: TestTimeAugmentation = {}): Tensor {
  checkTestTimeAugmentation(tta);
  const scales = tta.scales ?? [1];
  if (scales.length !== 1 || scales[0] !== 1 || tta.flip === true) return scope(() => predictProbabilities(model, images, tta).argmax(1));
  expectImages(images);
  const numClasses = classCount(model);
  return inference(model, () => {
    const logits = model.forwardAtInputSize(images); // [B, K, H, W]; argmax of logits = argmax of softmax
    checkLogits(logits, images, numClasses);
    return logits.argmax(1); // [B, H, W] int64
  });
}
