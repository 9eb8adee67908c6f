/**
 * Pixel-wise label-based contrastive losses of Zhao et al., "Contrastive Learning for Label Efficient
 * Semantic Segmentation" (ICCV 2021, https://arxiv.org/abs/2012.06985), computed exactly at full feature
 * resolution without ever forming an N x M similarity matrix: each loss is one fused autograd op of the
 * addon (native/src/contrastive_supervised.cc, contrastive_official.cc) that visits anchors in chunks and
 * recomputes chunk similarities in the backward pass. Extra memory: O((N + M) D + T chunk M) for N anchors,
 * M contrast pixels, D channels and T intra-op threads (getNumThreads()), with chunk x M about 2^21
 * similarities (8 MiB in float32) per thread: the column gradients are summed over column blocks, one
 * thread per block, so no thread keeps a D x M copy.
 *
 * Features are unit-normalised projection-head outputs [B, D, H, W]; labels [B, H, W] int64 at the same
 * resolution. With s(p, k) = f_p . g_k / tau, anchors p = valid pixels of an image I, contrast set K =
 * valid pixels of its distorted view Î and positives P(p) = pixels of K with p's label:
 *   l(p) = -(1 / |P(p)|) sum_{q in P(p)} log( exp s(p, q) / sum_{k in K} exp s(p, k) ).
 * An anchor without positives is skipped.
 */
import { wrap, type Tensor } from '../torch/tensor.js';
import {
  checkFeatures, checkOptions, checkInteger, checkLabels, checkTemperature, checkViews, contrastiveAddon, resolvePartner,
} from './contrastive-inputs.js';
import { ConfigError } from '../errors.js';
import { DEFAULT_IGNORE_INDEX, PAPER_TEMPERATURE } from './constants.js';

export { PAPER_TEMPERATURE, DEFAULT_IGNORE_INDEX } from './constants.js';

/** Options of the within-image and batch losses. */
export interface PixelContrastiveOptions {
  /** tau in s(p, k) = f_p . g_k / tau (default PAPER_TEMPERATURE = 0.07). */
  temperature?: number;
  /** Pixels with this label are invalid: neither anchors nor contrast pixels (default 255). */
  ignoreIndex?: number;
}

/** Options of the cross-image loss. */
export interface CrossImageContrastiveOptions extends PixelContrastiveOptions {
  /** partner[b] = the image J whose distorted view Ĵ adds positives for image b (default (b + 1) mod B; J != b). */
  partner?: number[];
}

/** Options of officialContrastiveLoss. */
export interface OfficialContrastiveOptions {
  /** tau (default PAPER_TEMPERATURE = 0.07). */
  temperature?: number;
  /** Labels whose pixels are masked out of every pair (the released `ignore_labels`). */
  ignoreLabels: number[];
  /** 'within': view 1 against itself; 'cross': both views of each batch element together. */
  mode: 'within' | 'cross';
}

type SupervisedKind = 'within' | 'cross' | 'batch';

function supervisedLoss(fn: string, kind: SupervisedKind, features: Tensor, labels: Tensor, distortedFeatures: Tensor,
  distortedLabels: Tensor, options: CrossImageContrastiveOptions): Tensor {
  checkOptions(fn, options);
  checkFeatures(fn, 'features', features);
  checkLabels(fn, 'labels', labels, 'features', features);
  checkFeatures(fn, 'distortedFeatures', distortedFeatures);
  checkViews(fn, 'features', features, 'distortedFeatures', distortedFeatures);
  checkLabels(fn, 'distortedLabels', distortedLabels, 'distortedFeatures', distortedFeatures);
  const temperature = options.temperature ?? PAPER_TEMPERATURE;
  const ignoreIndex = options.ignoreIndex ?? DEFAULT_IGNORE_INDEX;
  checkTemperature(fn, temperature);
  checkInteger(fn, 'ignoreIndex', ignoreIndex);
  const partner = kind === 'cross' ? resolvePartner(fn, features.shape[0], options.partner) : [];
  return wrap(contrastiveAddon.pixelContrastiveLoss(kind, features.handle, labels.handle, distortedFeatures.handle,
    distortedLabels.handle, temperature, ignoreIndex, partner));
}

/**
 * Within-image loss: every valid pixel of image b is contrasted with the valid pixels of its distorted
 * view b (same image, another augmentation). Loss of an image = mean l(p) over its kept anchors; result =
 * mean over the images with at least one kept anchor (0 if none).
 * @param features [B, D, H, W] float32 (float64 accepted), view I.
 * @param labels [B, H, W] int64, labels of I.
 * @param distortedFeatures [B, D, H', W'], view Î (same B, D, dtype).
 * @param distortedLabels [B, H', W'] int64.
 * @returns a scalar tensor (owned by the caller), differentiable wrt both feature tensors.
 * @throws ShapeError for bad shapes or dtypes; ConfigError for a bad temperature or ignoreIndex.
 */
export function withinImageContrastiveLoss(features: Tensor, labels: Tensor, distortedFeatures: Tensor,
  distortedLabels: Tensor, options: PixelContrastiveOptions = {}): Tensor {
  return supervisedLoss('withinImageContrastiveLoss', 'within', features, labels, distortedFeatures, distortedLabels,
    options);
}

/**
 * Cross-image loss: image b is paired with J = partner[b]. Positives come from Î and Ĵ (same label);
 * negatives only from Î:
 *   l(p) = -(1/|P(p)|) sum_{q in P(p)} log( exp s(p,q) / (sum_{k in Î} exp s(p,k) + sum_{k in Ĵ, same label} exp s(p,k)) ).
 * Reduced as withinImageContrastiveLoss. Arguments and result as there.
 * @throws ShapeError for B < 2 or bad shapes; ConfigError for a bad partner list, temperature or ignoreIndex.
 */
export function crossImageContrastiveLoss(features: Tensor, labels: Tensor, distortedFeatures: Tensor,
  distortedLabels: Tensor, options: CrossImageContrastiveOptions = {}): Tensor {
  return supervisedLoss('crossImageContrastiveLoss', 'cross', features, labels, distortedFeatures, distortedLabels,
    options);
}

/**
 * Batch loss: all pixels of the minibatch in one bag. Anchors are the valid pixels of every I, the
 * contrast set the valid pixels of every Î, positives same-label pixels anywhere in the batch. Result =
 * mean l(p) over all kept anchors of the batch (0 if none). Arguments and result as withinImageContrastiveLoss.
 * @throws ShapeError for bad shapes or dtypes; ConfigError for a bad temperature or ignoreIndex.
 */
export function batchContrastiveLoss(features: Tensor, labels: Tensor, distortedFeatures: Tensor,
  distortedLabels: Tensor, options: PixelContrastiveOptions = {}): Tensor {
  return supervisedLoss('batchContrastiveLoss', 'batch', features, labels, distortedFeatures, distortedLabels, options);
}

/**
 * The losses released with the paper (google-research `supervised_pixel_contrastive_loss`), reproduced
 * exactly: the denominator of each positive pair (p, q) is exp s(p,q) + the sum over p's negatives; a
 * pixel is its own positive; pairs involving an ignored pixel are masked; mean over anchors, then over
 * the batch (images without valid pixels count as 0).
 * - 'within' (`within_image_supervised_pixel_contrastive_loss`): view 1 against itself. features2 and
 *   labels2 are validated but unused; the released training objective adds the same loss of view 2.
 * - 'cross' (`cross_image_supervised_pixel_contrastive_loss`): the pixels of both views of each batch
 *   element together; positives anywhere, negatives only inside the anchor's own view. Pairs element b
 *   of view 1 with element b of view 2 (shuffle view 2 beforehand, as the released code does).
 * @param features1 [B, D, H, W] float32 (float64 accepted); labels1 [B, H, W] int64.
 * @param features2 [B, D, H', W'] (same B, D, dtype); labels2 [B, H', W'] int64.
 * @returns a scalar tensor (owned by the caller), differentiable wrt both feature tensors.
 * @throws ShapeError for bad shapes or dtypes; ConfigError for a bad mode, temperature or ignoreLabels.
 */
export function officialContrastiveLoss(features1: Tensor, labels1: Tensor, features2: Tensor, labels2: Tensor,
  options: OfficialContrastiveOptions): Tensor {
  const fn = 'officialContrastiveLoss';
  checkOptions(fn, options);
  checkFeatures(fn, 'features1', features1);
  checkLabels(fn, 'labels1', labels1, 'features1', features1);
  checkFeatures(fn, 'features2', features2);
  checkViews(fn, 'features1', features1, 'features2', features2);
  checkLabels(fn, 'labels2', labels2, 'features2', features2);
  const temperature = options.temperature ?? PAPER_TEMPERATURE;
  checkTemperature(fn, temperature);
  if (options.mode !== 'within' && options.mode !== 'cross') {
    throw new ConfigError(`${fn}: mode must be 'within' or 'cross', got '${String(options.mode)}' ` +
      '(src/losses/pixel-contrastive.ts).');
  }
  if (!Array.isArray(options.ignoreLabels)) {
    throw new ConfigError(`${fn}: ignoreLabels must be an array of label values (use [] to keep every pixel) ` +
      '(src/losses/pixel-contrastive.ts).');
  }
  for (const label of options.ignoreLabels) checkInteger(fn, 'ignoreLabels[]', label);
  return wrap(contrastiveAddon.officialContrastiveLoss(options.mode, features1.handle, labels1.handle, features2.handle,
    labels2.handle, temperature, [...options.ignoreLabels]));
}
