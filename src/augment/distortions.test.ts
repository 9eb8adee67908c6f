import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  adjustBrightness, adjustContrast, adjustHue, adjustSaturation, gaussianBlur, gaussianKernel, toGrayscale,
} from './distortions.js';
import { DEFAULT_DISTORTIONS, NO_DISTORTIONS, checkDistortionOptions, defaultBlurKernelSize, distort } from './photometric.js';
import { Rng } from './rng.js';
import { toFloatImage, type FloatImage } from './types.js';
import { ConfigError } from '../errors.js';

interface Fixture {
  height: number;
  width: number;
  image: number[];
  photometric: Record<string, number[]>;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/torchvision.json', import.meta.url), 'utf8')) as Fixture;

function source(): FloatImage {
  return toFloatImage(Uint8Array.from(fixture.image), fixture.width, fixture.height);
}

function assertClose(actual: Float32Array, expected: number[], tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < actual.length; i++) {
    const difference = Math.abs((actual[i] as number) - (expected[i] as number));
    assert.ok(difference <= tolerance, `${what}[${i}]: ${actual[i]} vs torchvision ${expected[i]}`);
  }
}

const cases: [string, (image: FloatImage) => void][] = [
  ['brightness_1.3', (image) => adjustBrightness(image, 1.3)],
  ['brightness_0.6', (image) => adjustBrightness(image, 0.6)],
  ['contrast_0.6', (image) => adjustContrast(image, 0.6)],
  ['contrast_1.4', (image) => adjustContrast(image, 1.4)],
  ['saturation_1.7', (image) => adjustSaturation(image, 1.7)],
  ['saturation_0.3', (image) => adjustSaturation(image, 0.3)],
  ['hue_0.23', (image) => adjustHue(image, 0.23)],
  ['hue_-0.4', (image) => adjustHue(image, -0.4)],
  ['hue_0.5', (image) => adjustHue(image, 0.5)],
  ['grayscale', (image) => toGrayscale(image)],
  ['blur_5_1.2', (image) => gaussianBlur(image, 5, 1.2)],
  ['blur_3_0.5', (image) => gaussianBlur(image, 3, 0.5)],
];
for (const [name, apply] of cases) {
  test(`${name} matches torchvision.transforms.functional`, () => {
    const image = source();
    apply(image);
    assertClose(image.data, fixture.photometric[name] as number[], 2e-6, name);
  });
}

test('gaussianKernel is normalised and symmetric (hand check for k = 3, sigma = 1)', () => {
  const kernel = gaussianKernel(3, 1);
  const edge = Math.exp(-0.5) / (1 + 2 * Math.exp(-0.5));
  assert.ok(Math.abs((kernel[0] as number) - edge) < 1e-12);
  assert.ok(Math.abs((kernel[2] as number) - edge) < 1e-12);
  assert.ok(Math.abs((kernel[1] as number) - 1 / (1 + 2 * Math.exp(-0.5))) < 1e-12);
});

test('distort is deterministic for a seed, stays in [0, 1], and NO_DISTORTIONS is the identity', () => {
  const first = source();
  const second = source();
  distort(first, new Rng(3), DEFAULT_DISTORTIONS);
  distort(second, new Rng(3), DEFAULT_DISTORTIONS);
  assert.deepEqual(first.data, second.data);
  assert.ok(first.data.every((value) => value >= 0 && value <= 1));
  const untouched = source();
  distort(untouched, new Rng(3), NO_DISTORTIONS);
  assert.deepEqual(untouched.data, source().data);
  let changed = 0;
  for (let seed = 0; seed < 20; seed++) {
    const image = source();
    distort(image, new Rng(seed), DEFAULT_DISTORTIONS);
    if (image.data.some((value, i) => value !== source().data[i])) changed++;
  }
  assert.ok(changed >= 18, `default distortions changed only ${changed} of 20 images`);
});

test('defaultBlurKernelSize is 10% of the short side, odd, at least 3', () => {
  assert.equal(defaultBlurKernelSize(128, 128), 13);
  assert.equal(defaultBlurKernelSize(240, 180), 19);
  assert.equal(defaultBlurKernelSize(10, 10), 3);
  assert.equal(defaultBlurKernelSize(200, 200), 21);
});

test('bad distortion options raise ConfigError naming the option', () => {
  const hue = { ...DEFAULT_DISTORTIONS, hue: { probability: 0.8, strength: 0.7 } };
  assert.throws(() => checkDistortionOptions(hue), (error: unknown) => error instanceof ConfigError && /distortions\.hue\.strength/.test(error.message));
  const blur = { ...DEFAULT_DISTORTIONS, blur: { probability: 0.5, sigma: [0.1, 2] as const, kernelSize: 4 } };
  assert.throws(() => checkDistortionOptions(blur), /distortions\.blur\.kernelSize: expected an odd positive integer/);
  const probability = { ...DEFAULT_DISTORTIONS, grayscale: { probability: 1.5 } };
  assert.throws(() => checkDistortionOptions(probability), /distortions\.grayscale\.probability/);
  checkDistortionOptions(DEFAULT_DISTORTIONS);
  assert.throws(() => adjustHue(source(), 0.6), ConfigError);
  assert.throws(() => gaussianBlur(source(), 4, 1), ConfigError);
});
