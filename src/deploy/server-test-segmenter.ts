/**
 * Test support: the Node segmenter (segmenter.ts's load(), onnxruntime-node) that the server and browser
 * tests compare with, wrapped to count how many segment() calls run at once (the server must queue them
 * into the one session).
 */
import type { ImageInput, Segmentation } from './segmenter.js';
import { load } from './segmenter.js';

/** The Node segmenter, recording its peak concurrency. */
export interface TestSegmenter {
  readonly classNames: readonly string[];
  readonly colours: readonly (readonly number[])[];
  /** Highest number of segment() calls seen running at once; the test may reset it. */
  maxConcurrent: number;
  segment(image: ImageInput): Promise<Segmentation>;
  dispose(): Promise<void>;
}

/** Loads the model with one onnxruntime thread (a test on a shared machine). */
export async function testSegmenter(modelFile: string): Promise<TestSegmenter> {
  const segmenter = await load(modelFile, { threads: 1 });
  let running = 0;
  const counted: TestSegmenter = {
    classNames: segmenter.metadata.classNames, colours: segmenter.metadata.colours, maxConcurrent: 0,
    async segment(image) {
      running++;
      counted.maxConcurrent = Math.max(counted.maxConcurrent, running);
      try {
        return await segmenter.segment(image);
      } finally {
        running--;
      }
    },
    dispose: () => segmenter.dispose(),
  };
  return counted;
}
