/**
 * The inference API over an exported model (tfjs-models' deeplab shape): `const seg = await load(model)`,
 * `await seg.segment(image)` -> class ids per pixel with the class table, `seg.dispose()`. Runs the ONNX
 * graph with onnxruntime-node on the CPU; libtorch is not involved, so nothing here holds tensors of ours.
 *
 * ```ts
 * import { load } from 'contraseg';
 * const segmenter = await load('model.onnx');
 * const { mask, width, height, classNames } = await segmenter.segment('street.jpg');
 * segmenter.dispose();
 * ```
 */
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { normalisedChw } from '../data/batch.js';
import { decodeImage, decodeImageBytes } from '../data/image-io.js';
import { CheckpointError, ConfigError, ShapeError } from '../errors.js';
import { decodeMetadata, ONNX_INPUT, ONNX_OUTPUT, type ModelMetadata } from './metadata.js';
import { readModelInfo } from './onnx-graph.js';

/** Options of load(). */
export interface LoadOptions {
  /** onnxruntime intra-op threads; default CONTRASEG_NUM_THREADS if set, else onnxruntime's (one per core). */
  readonly threads?: number;
}

/** An RGB image: uint8 H x W x 3, row-major, channels interleaved. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** What segment() accepts: a file path, encoded PNG/JPEG/WebP bytes (a Buffer), or decoded RGB pixels. */
export type ImageInput = string | Uint8Array | RgbImage;

/** Options of segment(). */
export interface SegmentOptions {
  /** Also return the logits [C, H, W] float32 (default false). */
  readonly logits?: boolean;
  /**
   * Test-time augmentation as `predictMasks(..., { flip: true })`: the image and its mirror image in one
   * batch of 2, softmax probabilities averaged after flipping the second back (default false). The logits
   * returned are then log(averaged probabilities).
   */
  readonly flip?: boolean;
}

/** The result of segment(). */
export interface Segmentation {
  /** Class id of each pixel, row-major [H * W]: the argmax of the logits (the first class on ties). */
  readonly mask: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly classNames: readonly string[];
  readonly colours: readonly (readonly [number, number, number])[];
  /** Logits [C, H, W] row-major, when asked for. */
  readonly logits?: Float32Array;
}

/** A loaded model. Call dispose() when done; segment() after dispose() throws. */
export interface Segmenter {
  /** The model's class table, normalisation and provenance (from its metadata_props). */
  readonly metadata: ModelMetadata;
  /** Segments one image at its own size. @throws DatasetError for bytes or a file that is not an image; ShapeError for bad pixels. */
  segment(image: ImageInput, options?: SegmentOptions): Promise<Segmentation>;
  /** Releases the onnxruntime session. Idempotent. */
  dispose(): Promise<void>;
}

/** Class ids are stored in a Uint8Array. */
const MAX_CLASSES = 256;

function defaultThreads(): number | undefined {
  const value = Number(process.env.CONTRASEG_NUM_THREADS);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

async function modelBytes(model: string | Uint8Array): Promise<{ bytes: Uint8Array; name: string }> {
  if (typeof model !== 'string') return { bytes: model, name: 'the ONNX model bytes' };
  try {
    return { bytes: await readFile(model), name: model };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CheckpointError(`${code === 'ENOENT' ? 'ONNX model file not found' : `cannot read the ONNX model (${code ?? (error as Error).message})`}; ` +
      'create one with: contraseg export --run <run dir> --out model.onnx', model);
  }
}

/** Metadata and graph interface of the bytes. @throws CheckpointError if they are not a contraseg model. */
function inspectModel(bytes: Uint8Array, name: string): ModelMetadata {
  let info: ReturnType<typeof readModelInfo>;
  try {
    info = readModelInfo(bytes);
  } catch (error) {
    throw new CheckpointError(`not an ONNX model (${(error as Error).message}); pass a .onnx file written by contraseg export`, name);
  }
  if (!info.inputs.includes(ONNX_INPUT) || !info.outputs.includes(ONNX_OUTPUT)) {
    throw new CheckpointError(`expected an ONNX graph with input '${ONNX_INPUT}' and output '${ONNX_OUTPUT}', got inputs ` +
      `[${info.inputs.join(', ')}] and outputs [${info.outputs.join(', ')}]; it was not written by contraseg export`, name);
  }
  const metadata = decodeMetadata(info.metadata, name);
  if (metadata.classNames.length > MAX_CLASSES) {
    throw new CheckpointError(`the model has ${metadata.classNames.length} classes; masks hold at most ${MAX_CLASSES} class ids`, name);
  }
  return metadata;
}

/**
 * Loads an exported model (a .onnx path or its bytes) into an onnxruntime-node session.
 * @throws CheckpointError naming the file if it is missing, not an ONNX model, not contraseg's (no
 * metadata, other input/output names) or rejected by onnxruntime.
 */
export async function load(model: string | Uint8Array, options: LoadOptions = {}): Promise<Segmenter> {
  const { bytes, name } = await modelBytes(model);
  const metadata = inspectModel(bytes, name);
  const threads = options.threads ?? defaultThreads();
  if (threads !== undefined && !(Number.isInteger(threads) && threads > 0)) {
    throw new ConfigError(`load: threads must be a positive integer, got ${threads}`);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      graphOptimizationLevel: 'all', interOpNumThreads: 1, ...(threads === undefined ? {} : { intraOpNumThreads: threads }),
    });
  } catch (error) {
    throw new CheckpointError(`onnxruntime cannot load the model (${(error as Error).message}); re-export it with contraseg export`, name);
  }
  return new OnnxSegmenter(session, metadata, name);
}

class OnnxSegmenter implements Segmenter {
  private released = false;

  constructor(private readonly session: ort.InferenceSession, readonly metadata: ModelMetadata, private readonly name: string) {}

  async segment(image: ImageInput, options: SegmentOptions = {}): Promise<Segmentation> {
    if (this.released) throw new ConfigError(`segment: the segmenter of ${this.name} was disposed; load() the model again`);
    const { data, width, height } = await toRgb(image);
    const { mean, std, classNames, colours } = this.metadata;
    const normalised = normalisedChw(data, width, height, mean, std); // [3, H, W]
    const views = options.flip === true ? 2 : 1;
    const batch = views === 1 ? normalised : concatenate(normalised, flipWidth(normalised, 3, height, width));
    const input = new ort.Tensor('float32', batch, [views, 3, height, width]); // [views, 3, H, W]
    const outputs = await this.session.run({ [ONNX_INPUT]: input });
    const output = outputs[ONNX_OUTPUT] as ort.Tensor;
    try {
      const expected = [views, classNames.length, height, width];
      if (output.dims.join() !== expected.join() || output.type !== 'float32') {
        throw new ShapeError(`${this.name}: the model returned ${output.type} logits [${output.dims.join(', ')}] for a ${width}x${height} image, ` +
          `expected float32 [${expected.join(', ')}]; re-export it with contraseg export`);
      }
      const raw = output.data as Float32Array;
      const logits = views === 1 ? raw : flipAveragedLogProbabilities(raw, classNames.length, height, width);
      return {
        mask: argmaxChannels(logits, classNames.length, width * height), width, height, classNames, colours,
        ...(options.logits === true ? { logits: views === 1 ? logits.slice() : logits } : {}),
      };
    } finally {
      input.dispose();
      for (const value of Object.values(outputs)) value.dispose();
    }
  }

  async dispose(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}

/** Decoded pixels of any accepted input. @throws DatasetError for undecodable bytes; ShapeError for inconsistent pixels. */
async function toRgb(image: ImageInput): Promise<RgbImage> {
  if (typeof image === 'string') return decodeImage(image);
  if (image instanceof Uint8Array) return decodeImageBytes(image, 'image bytes');
  const { data, width, height } = image;
  if (!(data instanceof Uint8Array) || !Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 ||
    data.length !== width * height * 3) {
    throw new ShapeError(`segment: expected { data: Uint8Array of width * height * 3 RGB bytes, width, height } with positive integer sizes, ` +
      `got ${data?.constructor?.name ?? typeof data} of ${data?.length} bytes for ${width}x${height}; decode the image first or pass its file path`);
  }
  return image;
}

/**
 * Per-pixel argmax over channels of [C, pixels] logits (the first maximum wins, as torch.argmax).
 * NaN never wins (a comparison with NaN is false), so an all-NaN pixel gets class 0.
 */
export function argmaxChannels(logits: Float32Array, channels: number, pixels: number): Uint8Array {
  const mask = new Uint8Array(pixels);
  const best = logits.slice(0, pixels);
  for (let channel = 1; channel < channels; channel++) {
    const offset = channel * pixels;
    for (let pixel = 0; pixel < pixels; pixel++) {
      const value = logits[offset + pixel] as number;
      if (value > (best[pixel] as number)) {
        best[pixel] = value;
        mask[pixel] = channel;
      }
    }
  }
  return mask;
}

function concatenate(first: Float32Array, second: Float32Array): Float32Array {
  const out = new Float32Array(first.length + second.length);
  out.set(first);
  out.set(second, first.length);
  return out;
}

/** [planes, H, W] mirrored along W (a new array). */
function flipWidth(values: Float32Array, planes: number, height: number, width: number): Float32Array {
  const out = new Float32Array(planes * height * width);
  for (let row = 0; row < planes * height; row++) {
    const offset = row * width;
    for (let x = 0; x < width; x++) out[offset + x] = values[offset + width - 1 - x] as number;
  }
  return out;
}

/** Softmax over C of one pixel column of [C, pixels] logits starting at `offset`, into `target` (added, scaled by 1/2). */
function addHalfSoftmax(logits: Float32Array, offset: number, pixel: number, channels: number, pixels: number, target: Float64Array, targetPixel: number): void {
  let largest = -Infinity;
  for (let channel = 0; channel < channels; channel++) largest = Math.max(largest, logits[offset + channel * pixels + pixel] as number);
  let sum = 0;
  for (let channel = 0; channel < channels; channel++) sum += Math.exp((logits[offset + channel * pixels + pixel] as number) - largest);
  for (let channel = 0; channel < channels; channel++) {
    target[channel * pixels + targetPixel] += 0.5 * Math.exp((logits[offset + channel * pixels + pixel] as number) - largest) / sum;
  }
}

/**
 * logits [2, C, H, W] of an image and its mirror image -> log of the mean of the two softmax
 * probabilities [C, H, W], the second flipped back first (mmsegmentation's aug_test, as src/eval/predict.ts).
 */
function flipAveragedLogProbabilities(logits: Float32Array, channels: number, height: number, width: number): Float32Array {
  const pixels = height * width;
  const probabilities = new Float64Array(channels * pixels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const pixel = y * width + x;
      addHalfSoftmax(logits, 0, pixel, channels, pixels, probabilities, pixel);
      addHalfSoftmax(logits, channels * pixels, y * width + (width - 1 - x), channels, pixels, probabilities, pixel);
    }
  }
  return Float32Array.from(probabilities, Math.log);
}
