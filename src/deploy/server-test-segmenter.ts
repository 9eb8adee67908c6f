/**
 * Test support: the Node segmenter the server and browser tests compare with, wrapped to count how many
 * segment() calls run at once (the server must queue them into the one session).
 *
 * Until src/deploy/segmenter.ts lands this is a direct onnxruntime-node session over the agreed ONNX
 * contract (input `image` normalised [N, 3, H, W], output `logits` [N, C, H, W], contraseg.* metadata).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import type { MaskResult, RgbImage } from './server-segment.js';

/** A segmenter that records its peak concurrency. */
export interface TestSegmenter {
  readonly classNames: readonly string[];
  readonly colours: readonly (readonly number[])[];
  /** Highest number of segment() calls seen running at once; the test may reset it. */
  maxConcurrent: number;
  segment(image: RgbImage | Buffer): Promise<MaskResult>;
  dispose(): Promise<void>;
}

interface ModelMetadata {
  readonly classNames: string[];
  readonly colours: number[][];
  readonly mean: number[];
  readonly std: number[];
}

function readMetadata(modelFile: string): ModelMetadata {
  const { onnx } = createRequire(import.meta.url)('onnx-proto') as {
    onnx: { ModelProto: { decode(bytes: Uint8Array): { metadataProps: { key: string; value: string }[] } } };
  };
  const props = new Map(onnx.ModelProto.decode(readFileSync(modelFile)).metadataProps.map((entry) => [entry.key, entry.value]));
  const json = <T>(key: string): T => JSON.parse(props.get(key) ?? 'null') as T;
  return {
    classNames: json<string[]>('contraseg.classNames'), colours: json<number[][]>('contraseg.colours'),
    mean: json<number[]>('contraseg.mean'), std: json<number[]>('contraseg.std'),
  };
}

async function toRgb(image: RgbImage | Buffer): Promise<RgbImage> {
  if (!Buffer.isBuffer(image)) return image;
  const { data, info } = await sharp(image, { failOn: 'error' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

/** Loads the model in onnxruntime-node (single-threaded: a test on a shared machine). */
export async function testSegmenter(modelFile: string): Promise<TestSegmenter> {
  const metadata = readMetadata(modelFile);
  const session = await ort.InferenceSession.create(modelFile, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  let running = 0;
  const segmenter: TestSegmenter = {
    classNames: metadata.classNames, colours: metadata.colours, maxConcurrent: 0,
    async segment(input) {
      running++;
      segmenter.maxConcurrent = Math.max(segmenter.maxConcurrent, running);
      try {
        const image = await toRgb(input);
        const { width, height } = image;
        const planes = new Float32Array(3 * width * height); // [1, 3, H, W]
        for (let pixel = 0; pixel < width * height; pixel++) {
          for (let channel = 0; channel < 3; channel++) {
            planes[channel * width * height + pixel] = ((image.data[pixel * 3 + channel] as number) / 255 - (metadata.mean[channel] as number)) / (metadata.std[channel] as number);
          }
        }
        const outputs = await session.run({ image: new ort.Tensor('float32', planes, [1, 3, height, width]) });
        const logits = outputs.logits as ort.Tensor; // [1, C, H, W]
        const scores = logits.data as Float32Array;
        const classCount = logits.dims[1] as number;
        const mask = new Uint8Array(width * height);
        for (let pixel = 0; pixel < width * height; pixel++) {
          let best = 0;
          for (let classId = 1; classId < classCount; classId++) {
            if ((scores[classId * width * height + pixel] as number) > (scores[best * width * height + pixel] as number)) best = classId;
          }
          mask[pixel] = best;
        }
        logits.dispose();
        return { mask, width, height, classNames: metadata.classNames, colours: metadata.colours };
      } finally {
        running--;
      }
    },
    dispose: () => session.release(),
  };
  return segmenter;
}
