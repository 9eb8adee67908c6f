/**
 * Random photometric distortion of one image (the distorted view Î of contrastive pretraining):
 * colour jitter in a random order, random grayscale, random Gaussian blur. Image only; masks and
 * geometry are untouched, so pixel (y, x) of Î is pixel (y, x) of I.
 */
import { ConfigError } from '../errors.js';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, gaussianBlur, toGrayscale } from './distortions.js';
import type { Rng } from './rng.js';
import type { FloatImage } from './types.js';

/** A jitter applied with `probability`, its factor drawn uniformly from [max(0, 1 - strength), 1 + strength] (hue: shift in [-strength, strength]). */
export interface Jitter {
  readonly probability: number;
  readonly strength: number;
}

/** Options of distort(). Set a probability to 0 to switch a distortion off. */
export interface DistortionOptions {
  readonly brightness: Jitter;
  readonly contrast: Jitter;
  readonly saturation: Jitter;
  /** strength <= 0.5 (a shift of half a turn is the largest). */
  readonly hue: Jitter;
  readonly grayscale: { readonly probability: number };
  /**
   * sigma drawn uniformly from the range (pixels). kernelSize: odd; null = 10% of the shorter image side,
   * rounded to odd, at least 3 (SimCLR's choice).
   */
  readonly blur: { readonly probability: number; readonly sigma: readonly [number, number]; readonly kernelSize: number | null };
}

/**
 * Defaults: SimCLR's colour distortion at strength s = 0.5 (Chen et al., "A Simple Framework for Contrastive
 * Learning of Visual Representations", ICML 2020, Appendix A): jitter 0.8s/0.8s/0.8s/0.2s with p = 0.8,
 * grayscale p = 0.2, Gaussian blur p = 0.5 with sigma in [0.1, 2.0]. Unlike SimCLR, each jitter is drawn
 * with its own probability.
 */
export const DEFAULT_DISTORTIONS: DistortionOptions = {
  brightness: { probability: 0.8, strength: 0.4 },
  contrast: { probability: 0.8, strength: 0.4 },
  saturation: { probability: 0.8, strength: 0.4 },
  hue: { probability: 0.8, strength: 0.1 },
  grayscale: { probability: 0.2 },
  blur: { probability: 0.5, sigma: [0.1, 2.0], kernelSize: null },
};

/** No distortion at all (the identity). */
export const NO_DISTORTIONS: DistortionOptions = {
  brightness: { probability: 0, strength: 0 },
  contrast: { probability: 0, strength: 0 },
  saturation: { probability: 0, strength: 0 },
  hue: { probability: 0, strength: 0 },
  grayscale: { probability: 0 },
  blur: { probability: 0, sigma: [0.1, 2.0], kernelSize: null },
};

function checkProbability(name: string, probability: number): void {
  if (!(probability >= 0 && probability <= 1)) {
    throw new ConfigError(`distortions.${name}.probability: expected a value in [0, 1], got ${probability}.`);
  }
}

/** @throws ConfigError naming the first bad option. */
export function checkDistortionOptions(options: DistortionOptions): void {
  for (const name of ['brightness', 'contrast', 'saturation', 'hue'] as const) {
    checkProbability(name, options[name].probability);
    const limit = name === 'hue' ? 0.5 : Infinity;
    if (!(options[name].strength >= 0 && options[name].strength <= limit)) {
      throw new ConfigError(`distortions.${name}.strength: expected a value in [0, ${limit}], got ${options[name].strength}.`);
    }
  }
  checkProbability('grayscale', options.grayscale.probability);
  checkProbability('blur', options.blur.probability);
  const [low, high] = options.blur.sigma;
  if (!(low > 0 && high >= low)) throw new ConfigError(`distortions.blur.sigma: expected 0 < min <= max, got [${low}, ${high}].`);
  const size = options.blur.kernelSize;
  if (size !== null && !(Number.isInteger(size) && size > 0 && size % 2 === 1)) {
    throw new ConfigError(`distortions.blur.kernelSize: expected an odd positive integer or null, got ${size}.`);
  }
}

/** The default blur kernel size for an image: 10% of the shorter side, odd, at least 3. */
export function defaultBlurKernelSize(width: number, height: number): number {
  const size = Math.max(3, Math.round(0.1 * Math.min(width, height)));
  return size % 2 === 1 ? size : size + 1;
}

/** Draws and applies the distortions to `image` in place. Deterministic for the state of `rng`. */
export function distort(image: FloatImage, rng: Rng, options: DistortionOptions): void {
  const jitters = rng.permutation(4);
  for (const which of jitters) {
    switch (which) {
      case 0:
        if (rng.chance(options.brightness.probability)) adjustBrightness(image, drawFactor(rng, options.brightness.strength));
        break;
      case 1:
        if (rng.chance(options.contrast.probability)) adjustContrast(image, drawFactor(rng, options.contrast.strength));
        break;
      case 2:
        if (rng.chance(options.saturation.probability)) adjustSaturation(image, drawFactor(rng, options.saturation.strength));
        break;
      default:
        if (rng.chance(options.hue.probability)) adjustHue(image, rng.uniform(-options.hue.strength, options.hue.strength));
    }
  }
  if (rng.chance(options.grayscale.probability)) toGrayscale(image);
  if (rng.chance(options.blur.probability)) {
    const sigma = rng.uniform(options.blur.sigma[0], options.blur.sigma[1]);
    gaussianBlur(image, options.blur.kernelSize ?? defaultBlurKernelSize(image.width, image.height), sigma);
  }
}

function drawFactor(rng: Rng, strength: number): number {
  return rng.uniform(Math.max(0, 1 - strength), 1 + strength);
}
