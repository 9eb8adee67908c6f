/**
 * Photometric distortions for the distorted view Î of contrastive pretraining. They change the image
 * only, never its mask or geometry. Each operation follows torchvision.transforms.functional on float
 * images in [0, 1] (0.14): same formulas, same clamping, same Gaussian kernel and reflect padding, so
 * torchvision is the test oracle. All operations work in place on a FloatImage.
 */
import { ConfigError } from '../errors.js';
import type { Rng } from './rng.js';
import type { FloatImage } from './types.js';

/** ITU-R 601 luma weights, as torchvision's rgb_to_grayscale. */
const LUMA = [0.2989, 0.587, 0.114] as const;

function clamp01(value: number): number {
  return value < 0 ? 0 : value > 1 ? 1 : value;
}

/** Multiplies every channel by `factor` (0 = black, 1 = unchanged), clamped to [0, 1]. */
export function adjustBrightness(image: FloatImage, factor: number): void {
  const data = image.data;
  for (let i = 0; i < data.length; i++) data[i] = clamp01((data[i] as number) * factor);
}

/** Blends with the image's mean grey level (0 = flat grey, 1 = unchanged), clamped to [0, 1]. */
export function adjustContrast(image: FloatImage, factor: number): void {
  const data = image.data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 3) {
    sum += LUMA[0] * (data[i] as number) + LUMA[1] * (data[i + 1] as number) + LUMA[2] * (data[i + 2] as number);
  }
  const mean = sum / (data.length / 3);
  const offset = (1 - factor) * mean;
  for (let i = 0; i < data.length; i++) data[i] = clamp01(factor * (data[i] as number) + offset);
}

/** Blends each pixel with its grey level (0 = greyscale, 1 = unchanged, 2 = doubly saturated), clamped. */
export function adjustSaturation(image: FloatImage, factor: number): void {
  const data = image.data;
  for (let i = 0; i < data.length; i += 3) {
    const grey = (1 - factor) * (LUMA[0] * (data[i] as number) + LUMA[1] * (data[i + 1] as number) + LUMA[2] * (data[i + 2] as number));
    data[i] = clamp01(factor * (data[i] as number) + grey);
    data[i + 1] = clamp01(factor * (data[i + 1] as number) + grey);
    data[i + 2] = clamp01(factor * (data[i + 2] as number) + grey);
  }
}

/** Replaces every pixel by its grey level (three equal channels). */
export function toGrayscale(image: FloatImage): void {
  const data = image.data;
  for (let i = 0; i < data.length; i += 3) {
    const grey = LUMA[0] * (data[i] as number) + LUMA[1] * (data[i + 1] as number) + LUMA[2] * (data[i + 2] as number);
    data[i] = grey;
    data[i + 1] = grey;
    data[i + 2] = grey;
  }
}

/**
 * Rotates the hue by `shift` turns (in [-0.5, 0.5]) through HSV, as torchvision's adjust_hue.
 * @throws ConfigError if shift is outside [-0.5, 0.5].
 */
export function adjustHue(image: FloatImage, shift: number): void {
  if (!(shift >= -0.5 && shift <= 0.5)) throw new ConfigError(`adjustHue: expected a shift in [-0.5, 0.5], got ${shift}.`);
  const data = image.data;
  for (let i = 0; i < data.length; i += 3) {
    const r = data[i] as number;
    const g = data[i + 1] as number;
    const b = data[i + 2] as number;
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const chroma = max - min;
    const equal = max === min;
    const saturation = chroma / (equal ? 1 : max);
    const divisor = equal ? 1 : chroma;
    const rc = (max - r) / divisor;
    const gc = (max - g) / divisor;
    const bc = (max - b) / divisor;
    const sector = max === r ? bc - gc : max === g ? 2 + rc - bc : 4 + gc - rc;
    let hue = (sector / 6 + 1) % 1;
    hue = (((hue + shift) % 1) + 1) % 1;
    writeHsv(data, i, hue, saturation, max);
  }
}

/** HSV -> RGB at data[offset..offset+2], as torchvision's _hsv2rgb (p, q, t clamped to [0, 1]). */
function writeHsv(data: Float32Array, offset: number, hue: number, saturation: number, value: number): void {
  const scaled = hue * 6;
  const floor = Math.floor(scaled);
  const f = scaled - floor;
  const p = clamp01(value * (1 - saturation));
  const q = clamp01(value * (1 - saturation * f));
  const t = clamp01(value * (1 - saturation * (1 - f)));
  let r: number;
  let g: number;
  let b: number;
  switch (((floor % 6) + 6) % 6) {
    case 0: r = value; g = t; b = p; break;
    case 1: r = q; g = value; b = p; break;
    case 2: r = p; g = value; b = t; break;
    case 3: r = p; g = q; b = value; break;
    case 4: r = t; g = p; b = value; break;
    default: r = value; g = p; b = q;
  }
  data[offset] = r;
  data[offset + 1] = g;
  data[offset + 2] = b;
}

/** Index into [0, size) with mirror reflection at both ends (no edge repeat), as torch's reflect padding. */
function reflect(index: number, size: number): number {
  if (size === 1) return 0;
  const period = 2 * (size - 1);
  let folded = ((index % period) + period) % period;
  if (folded >= size) folded = period - folded;
  return folded;
}

/** torchvision's 1-D Gaussian kernel: exp(-x^2 / 2 sigma^2) at x = -(k-1)/2 .. (k-1)/2, normalised. */
export function gaussianKernel(kernelSize: number, sigma: number): Float64Array {
  const kernel = new Float64Array(kernelSize);
  const half = (kernelSize - 1) / 2;
  let sum = 0;
  for (let i = 0; i < kernelSize; i++) {
    const x = (i - half) / sigma;
    kernel[i] = Math.exp(-0.5 * x * x);
    sum += kernel[i] as number;
  }
  for (let i = 0; i < kernelSize; i++) kernel[i] = (kernel[i] as number) / sum;
  return kernel;
}

/** Source index of every padded position -half..size-1+half under reflect padding. */
function reflectedIndices(size: number, half: number): Int32Array {
  const indices = new Int32Array(size + 2 * half);
  for (let i = 0; i < indices.length; i++) indices[i] = reflect(i - half, size);
  return indices;
}

/**
 * Gaussian blur with an odd `kernelSize` and standard deviation `sigma` (pixels), reflect padding;
 * separable (rows, then columns).
 * @throws ConfigError if kernelSize is not a positive odd integer or sigma <= 0.
 */
export function gaussianBlur(image: FloatImage, kernelSize: number, sigma: number): void {
  if (!(Number.isInteger(kernelSize) && kernelSize > 0 && kernelSize % 2 === 1) || !(sigma > 0)) {
    throw new ConfigError(`gaussianBlur: expected an odd positive kernel size and sigma > 0, got ${kernelSize} and ${sigma}.`);
  }
  const { width, height, data } = image;
  const kernel = gaussianKernel(kernelSize, sigma);
  const half = (kernelSize - 1) / 2;
  const rowStride = width * 3;
  // rows: gather each row with reflected borders, then a plain dot product per output value
  const columns = reflectedIndices(width, half);
  const padded = new Float64Array((width + 2 * half) * 3);
  const rows = new Float32Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = y * rowStride;
    for (let i = 0; i < columns.length; i++) {
      const source = row + (columns[i] as number) * 3;
      padded[i * 3] = data[source] as number;
      padded[i * 3 + 1] = data[source + 1] as number;
      padded[i * 3 + 2] = data[source + 2] as number;
    }
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0, p = x * 3; k < kernelSize; k++, p += 3) {
        const weight = kernel[k] as number;
        r += weight * (padded[p] as number);
        g += weight * (padded[p + 1] as number);
        b += weight * (padded[p + 2] as number);
      }
      rows[row + x * 3] = r;
      rows[row + x * 3 + 1] = g;
      rows[row + x * 3 + 2] = b;
    }
  }
  // columns: accumulate whole rows, weighted, into each output row
  const rowOffsets = reflectedIndices(height, half);
  const accumulator = new Float64Array(rowStride);
  for (let y = 0; y < height; y++) {
    accumulator.fill(0);
    for (let k = 0; k < kernelSize; k++) {
      const weight = kernel[k] as number;
      const source = (rowOffsets[y + k] as number) * rowStride;
      for (let i = 0; i < rowStride; i++) accumulator[i] = (accumulator[i] as number) + weight * (rows[source + i] as number);
    }
    data.set(accumulator, y * rowStride);
  }
}
