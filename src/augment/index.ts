/** Geometric augmentation (image and mask together) and photometric distortions (image only). */
export { Rng, deriveSeed } from './rng.js';
export { IGNORE_INDEX } from './types.js';
export {
  augmentGeometry, planGeometry, warpImage, warpMask, resizePlan, DEFAULT_GEOMETRIC_OPTIONS, type GeometricOptions,
} from './geometric.js';
export { distort, DEFAULT_DISTORTIONS, NO_DISTORTIONS, type DistortionOptions } from './photometric.js';
export { adjustBrightness, adjustContrast, adjustSaturation, adjustHue, toGrayscale, gaussianBlur } from './distortions.js';
