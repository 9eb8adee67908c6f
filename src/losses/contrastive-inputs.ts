/**
 * The native side of the pixel-contrastive losses (native/src/contrastive_*.cc) and the checks every
 * wrapper runs before calling it. Internal to src/losses.
 */
import { native, type Handle } from '../torch/native.js';
import { expectTensor, type Tensor } from '../torch/tensor.js';
import { ConfigError, ShapeError } from '../errors.js';

const SOURCE = 'src/losses/pixel-contrastive.ts';

/** The fused loss kernels (native/src/contrastive_supervised.cc, contrastive_official.cc). */
interface ContrastiveAddon {
  pixelContrastiveLoss(kind: 'within' | 'cross' | 'batch', features: Handle, labels: Handle, distortedFeatures: Handle,
    distortedLabels: Handle, temperature: number, ignoreIndex: number, partner: number[]): Handle;
  officialContrastiveLoss(mode: 'within' | 'cross', features1: Handle, labels1: Handle, features2: Handle,
    labels2: Handle, temperature: number, ignoreLabels: number[]): Handle;
  setContrastiveChunkRows(rows: number): void;
}

/** @internal The addon's contrastive entry points. */
export const contrastiveAddon = native as unknown as ContrastiveAddon;

/**
 * @internal Forces `rows` anchors per chunk (0 restores the automatic size), so that tests on tiny inputs
 * cross chunk boundaries.
 */
export function setChunkRowsForTesting(rows: number): void {
  contrastiveAddon.setContrastiveChunkRows(rows);
}

function describe(tensor: Tensor): string {
  return `${tensor.dtype} [${tensor.shape.join(', ')}]`;
}

/** @internal Throws ConfigError unless the options argument is an object. */
export function checkOptions(fn: string, options: unknown): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(`${fn}: options must be an object such as { temperature: 0.07 }, got ${options === null ? 'null' : typeof options} (${SOURCE}).`);
  }
}

/** @internal Throws ShapeError unless features is a float [B, D, H, W] tensor. */
export function checkFeatures(fn: string, name: string, features: Tensor): void {
  if (expectTensor(features, fn, name).rank !== 4 || (features.dtype !== 'float32' && features.dtype !== 'float64')) {
    throw new ShapeError(`${fn}: ${name} must be a float32 tensor [B, D, H, W] (projection-head output, one ` +
      `D-vector per pixel); got ${describe(features)}. Pass the head output in NCHW layout, unflattened (${SOURCE}).`);
  }
}

/** @internal Throws ShapeError unless labels is int64 [B, H, W] matching features [B, D, H, W]. */
export function checkLabels(fn: string, name: string, labels: Tensor, featuresName: string, features: Tensor): void {
  expectTensor(labels, fn, name);
  const [batch, , height, width] = features.shape;
  const shape = labels.shape;
  if (labels.dtype !== 'int64' || labels.rank !== 3 || shape[0] !== batch || shape[1] !== height || shape[2] !== width) {
    throw new ShapeError(`${fn}: ${name} must be int64 [${batch}, ${height}, ${width}] to match ${featuresName} ` +
      `${describe(features)}; got ${describe(labels)}. Resize label maps to the feature resolution with nearest ` +
      `interpolation and convert them with .to('int64') (${SOURCE}).`);
  }
}

/** @internal Throws ShapeError unless the two views have the same batch size, channels and dtype. */
export function checkViews(fn: string, first: string, features: Tensor, second: string, distorted: Tensor): void {
  if (distorted.shape[0] !== features.shape[0] || distorted.shape[1] !== features.shape[1] ||
      distorted.dtype !== features.dtype) {
    throw new ShapeError(`${fn}: ${second} ${describe(distorted)} must have the batch size, channels and dtype of ` +
      `${first} ${describe(features)} (its height and width may differ). Feed both views through the same ` +
      `projection head (${SOURCE}).`);
  }
}

/** @internal Throws ConfigError unless temperature is a finite positive number. */
export function checkTemperature(fn: string, temperature: number): void {
  if (!Number.isFinite(temperature) || temperature <= 0) {
    throw new ConfigError(`${fn}: temperature must be a finite number > 0, got ${temperature}. The paper uses ` +
      `PAPER_TEMPERATURE = 0.07 (${SOURCE}).`);
  }
}

/** @internal Throws ConfigError unless value is a safe integer. */
export function checkInteger(fn: string, name: string, value: number): void {
  if (!Number.isSafeInteger(value)) {
    throw new ConfigError(`${fn}: ${name} must be an integer label value, got ${value} (${SOURCE}).`);
  }
}

/**
 * @internal The partner image of every image for the cross-image loss: `partner` when given (validated),
 * else (b + 1) mod B. @throws ShapeError for a batch of one, ConfigError for a bad partner list.
 */
export function resolvePartner(fn: string, batch: number, partner: number[] | undefined): number[] {
  if (batch < 2) {
    throw new ShapeError(`${fn}: the cross-image loss pairs each image with another one of the batch, so it needs ` +
      `B >= 2; got B = ${batch}. Use a larger batch, or withinImageContrastiveLoss for single images (${SOURCE}).`);
  }
  if (partner === undefined) return Array.from({ length: batch }, (_, b) => (b + 1) % batch);
  const bad = partner.findIndex((j, b) => !Number.isInteger(j) || j < 0 || j >= batch || j === b);
  if (partner.length !== batch || bad >= 0) {
    throw new ConfigError(`${fn}: partner must list, for each of the ${batch} images, the index of another image ` +
      `of the batch (0..${batch - 1}, partner[b] != b); got [${partner.join(', ')}]. Omit it for (b + 1) mod B (${SOURCE}).`);
  }
  return [...partner];
}
