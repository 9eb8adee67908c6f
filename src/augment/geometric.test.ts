import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  augmentGeometry, checkGeometricOptions, planGeometry, resizePlan, warpImage, warpMask,
  type GeometricOptions, type GeometryPlan, type Rgb,
} from './geometric.js';
import { Rng } from './rng.js';
import { IGNORE_INDEX, type LabelledImage } from './types.js';
import { ConfigError } from '../errors.js';

interface Fixture {
  height: number;
  width: number;
  image: number[];
  mask: number[];
  resize: { height: number; width: number; image: number[]; mask: number[] }[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/torchvision.json', import.meta.url), 'utf8')) as Fixture;
const image = Uint8Array.from(fixture.image);
const mask = Uint8Array.from(fixture.mask);
const PAD: Rgb = [124, 116, 104];

for (const expected of fixture.resize) {
  test(`resize ${fixture.height}x${fixture.width} -> ${expected.height}x${expected.width} matches F.interpolate`, () => {
    const plan = resizePlan(fixture.width, fixture.height, expected.width, expected.height);
    const resized = warpImage(image, plan, PAD);
    for (let i = 0; i < resized.length; i++) {
      // bilinear in float, then rounded to uint8: within half a grey level of PyTorch's float result
      assert.ok(Math.abs((resized[i] as number) - (expected.image[i] as number)) <= 0.5 + 1e-3, `image[${i}]: ${resized[i]} vs ${expected.image[i]}`);
    }
    assert.deepEqual(Array.from(warpMask(mask, plan)), expected.mask);
  });
}

/** Reference composition: resize (fixture-checked plan), then pad/crop window, then flip, done naively. */
function naive(plan: GeometryPlan): { image: number[]; mask: number[] } {
  const scaled = resizePlan(plan.sourceWidth, plan.sourceHeight, plan.scaledWidth, plan.scaledHeight);
  const scaledImage = warpImage(image, scaled, PAD);
  const scaledMask = warpMask(mask, scaled);
  const outImage: number[] = [];
  const outMask: number[] = [];
  for (let y = 0; y < plan.outHeight; y++) {
    for (let x = 0; x < plan.outWidth; x++) {
      const sx = (plan.flip ? plan.outWidth - 1 - x : x) + plan.left;
      const sy = y + plan.top;
      const inside = sx >= 0 && sy >= 0 && sx < plan.scaledWidth && sy < plan.scaledHeight;
      for (let c = 0; c < 3; c++) outImage.push(inside ? scaledImage[(sy * plan.scaledWidth + sx) * 3 + c] as number : PAD[c] as number);
      outMask.push(inside ? scaledMask[sy * plan.scaledWidth + sx] as number : IGNORE_INDEX);
    }
  }
  return { image: outImage, mask: outMask };
}

test('the fused scale+pad+crop+flip equals resizing, then cropping, then flipping', () => {
  const options: GeometricOptions = { scale: [0.5, 2.5], crop: { width: 8, height: 6 }, flipProbability: 0.5 };
  let padded = 0;
  let flipped = 0;
  for (let seed = 0; seed < 40; seed++) {
    const plan = planGeometry(new Rng(seed), fixture.width, fixture.height, options);
    if (plan.top < 0 || plan.left < 0) padded++;
    if (plan.flip) flipped++;
    const reference = naive(plan);
    assert.deepEqual(Array.from(warpImage(image, plan, PAD)), reference.image, `seed ${seed}`);
    assert.deepEqual(Array.from(warpMask(mask, plan)), reference.mask, `seed ${seed}`);
  }
  assert.ok(padded > 0 && flipped > 0 && flipped < 40, 'the seeds exercise padding and both flip outcomes');
});

/** A synthetic scene: 8x8-pixel blocks of classes 0..4 and ignore, each class drawn in its own colour. */
const COLOURS: Rgb[] = [[250, 10, 10], [10, 250, 10], [10, 10, 250], [240, 240, 20], [20, 230, 230]];
function scene(width: number, height: number): LabelledImage {
  const sceneMask = new Uint8Array(width * height);
  const sceneImage = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const block = (Math.floor(y / 8) * 7 + Math.floor(x / 8) * 3) % 6;
      const label = block === 5 ? IGNORE_INDEX : block;
      const colour = label === IGNORE_INDEX ? [0, 0, 0] : COLOURS[label] as Rgb;
      sceneMask[y * width + x] = label;
      sceneImage.set(colour, (y * width + x) * 3);
    }
  }
  return { width, height, image: sceneImage, mask: sceneMask };
}

test('augmentation keeps image and mask aligned: interior pixels keep the colour of their class', () => {
  const options: GeometricOptions = { scale: [0.6, 2.0], crop: { width: 40, height: 32 }, flipProbability: 0.5 };
  const source = scene(60, 45);
  for (let seed = 0; seed < 30; seed++) {
    const out = augmentGeometry(source, new Rng(seed), options, PAD);
    assert.equal(out.width, 40);
    assert.equal(out.height, 32);
    let checked = 0;
    for (let y = 1; y < out.height - 1; y++) {
      for (let x = 1; x < out.width - 1; x++) {
        const label = out.mask[y * out.width + x] as number;
        let uniform = true;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) uniform &&= out.mask[(y + dy) * out.width + x + dx] === label;
        if (!uniform) continue;
        const pixel = Array.from(out.image.subarray((y * out.width + x) * 3, (y * out.width + x) * 3 + 3));
        // ignore blocks are black in the scene, padding is PAD: both carry 255
        const allowed: Rgb[] = label === IGNORE_INDEX ? [[0, 0, 0], PAD] : [COLOURS[label] as Rgb];
        assert.ok(allowed.some((colour) => colour.every((v, c) => Math.abs(v - (pixel[c] as number)) <= 1)),
          `seed ${seed} (${y}, ${x}): class ${label} has colour ${pixel}`);
        checked++;
      }
    }
    assert.ok(checked > 0.2 * out.width * out.height, `seed ${seed}: only ${checked} interior pixels`);
  }
});

test('masks are resampled by nearest neighbour only: no new class ids appear', () => {
  const source = scene(30, 24);
  const present = new Set(source.mask);
  for (let seed = 0; seed < 20; seed++) {
    const out = augmentGeometry(source, new Rng(seed), { scale: [0.3, 3], crop: null, flipProbability: 0.5 }, PAD);
    for (const label of out.mask) assert.ok(present.has(label), `class ${label} invented`);
  }
});

test('hand-checked 2x upscale of a 1x2 image and a flip', () => {
  const pair = Uint8Array.from([0, 0, 0, 100, 200, 40]);
  // x' = 0..3 read source x = max((x'+0.5)/2-0.5, 0) = 0, 0.25, 0.75, 1 -> weights of the second pixel 0, .25, .75, 1
  const up = warpImage(pair, resizePlan(2, 1, 4, 1), PAD);
  assert.deepEqual(Array.from(up), [0, 0, 0, 25, 50, 10, 75, 150, 30, 100, 200, 40]);
  const flipped = warpImage(pair, { ...resizePlan(2, 1, 2, 1), flip: true }, PAD);
  assert.deepEqual(Array.from(flipped), [100, 200, 40, 0, 0, 0]);
  assert.deepEqual(Array.from(warpMask(Uint8Array.from([3, 7]), resizePlan(2, 1, 4, 1))), [3, 3, 7, 7]);
});

test('bad geometric options raise ConfigError', () => {
  assert.throws(() => checkGeometricOptions({ scale: [2, 1], crop: null, flipProbability: 0.5 }), (error: unknown) =>
    error instanceof ConfigError && /augmentation scale: expected 0 < min <= max, got \[2, 1\]/.test(error.message));
  assert.throws(() => checkGeometricOptions({ scale: [1, 1], crop: { width: 0, height: 4 }, flipProbability: 0.5 }), /augmentation crop/);
  assert.throws(() => checkGeometricOptions({ scale: [1, 1], crop: null, flipProbability: 2 }), /flipProbability/);
});
