/**
 * Test support of the server and browser tests: the committed PyTorch fixtures of web/fixtures
 * (made by web/fixtures/make_fixtures.py) and a started server on loopback. Not part of the public API.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePngValues } from '../data/png.js';
import { packageRoot } from './server-http.js';

/** The folder of the committed fixtures. */
export const FIXTURES = join(packageRoot(), 'web', 'fixtures');

/** The tiny ONNX model with contraseg metadata, the test image and PyTorch's (float64) argmax mask for it. */
export interface WebFixtures {
  readonly modelFile: string;
  readonly imageFile: string;
  readonly imagePng: Buffer;
  readonly expectedMask: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly classNames: readonly string[];
  readonly counts: readonly number[];
  /** Pixels whose top-1 minus top-2 reference logit is below 1e-3: the only ones float32 may flip. */
  readonly nearTies: number;
}

/** Reads the committed fixtures. */
export function readWebFixtures(): WebFixtures {
  const summary = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
    width: number; height: number; classNames: string[]; counts: number[]; 'pixelsWithMarginBelow1e-3': number;
  };
  const maskFile = join(FIXTURES, 'expected-mask.png');
  const mask = decodePngValues(readFileSync(maskFile), maskFile);
  if (mask === null) throw new Error(`${maskFile}: expected a greyscale PNG of class ids`);
  const imageFile = join(FIXTURES, 'image.png');
  return {
    modelFile: join(FIXTURES, 'tiny.onnx'), imageFile, imagePng: readFileSync(imageFile), expectedMask: mask.values,
    width: summary.width, height: summary.height, classNames: summary.classNames, counts: summary.counts,
    nearTies: summary['pixelsWithMarginBelow1e-3'],
  };
}

/** Fraction of pixels on which two masks agree. */
export function maskAgreement(mask: Uint8Array, reference: Uint8Array): number {
  if (mask.length !== reference.length) throw new Error(`mask of ${mask.length} pixels, reference of ${reference.length}`);
  let same = 0;
  for (let pixel = 0; pixel < mask.length; pixel++) if (mask[pixel] === reference[pixel]) same++;
  return same / mask.length;
}
