/**
 * npm run bench -- inference [timed] [warmup] [--no-browser] [--no-webgpu] [--webgpu-passes=N]: issue 11's inference benchmark. Images per second at
 * 360x480, batch 1, eval mode, 2 threads everywhere, for the ResNet-18 and MobileNetV2 DeepLabV3+ (width 1, OS 16,
 * 11 CamVid classes) on four runtimes holding the same weights: onnxruntime-node on the `contraseg export` graph
 * (the session options of src/deploy/segmenter.ts), contraseg/libtorch (forwardAtInputSize, as `contraseg
 * predict`), the PyTorch twin of scripts/fixtures/reference_models.py (bench/inference_torch.py) and
 * onnxruntime-web's wasm backend in headless /usr/bin/chromium (bench/inference-sides.ts); and, as an extra side,
 * onnxruntime-web's WebGPU backend in chromium on SwiftShader's adapter: a software Vulkan on the same 2 CPU cores,
 * not a GPU (it tells whether the page's WebGPU path runs and what it costs where no GPU is present; a real GPU
 * would be another number). It is hundreds of times slower than the others, so it runs `--webgpu-passes` (1) timed
 * passes once, between the two halves of the interleaved blocks, after its set-up pass (the checksum) as warm-up.
 * Before timing, the logits of every side are compared with onnxruntime-node's on the same input, so a ratio is
 * never between two different networks. Timing: contiguous blocks in the order A B C D D C B A (each side's
 * caches warm, a drift of the machine's load hits all sides alike), `warmup` untimed passes per block, medians.
 * Last line: one JSON object; ratio = onnxruntime-node / PyTorch time, web_ratio = onnxruntime-web (wasm) /
 * onnxruntime-node, webgpu_swiftshader_ratio = onnxruntime-web (WebGPU on SwiftShader) / onnxruntime-node.
 */
import { loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMAGENET_MEAN, IMAGENET_STD } from '../src/data/batch.js';
import { exportOnnx } from '../src/deploy/export.js';
import { classTable, perturbedModel } from '../src/deploy/parity-fixture.js';
import type { BackboneKind } from '../src/models/config.js';
import { manualSeed, randn } from '../src/torch/creation.js';
import { saveSafetensors } from '../src/torch/safetensors.js';
import { getNumThreads, noGrad, scope, setNumThreads } from '../src/torch/scope.js';
import { median, round } from './lib/paired.js';
import { requirePytorchReference } from './lib/pytorch-reference.js';
import { benchFolder, browserSide, libtorchSide, onnxNodeSide, pytorchSide, webSideName, type InferenceSide, type WebBackend } from './inference-sides.js';

const THREADS = 2;
const [HEIGHT, WIDTH] = [360, 480];
const CLASSES = 11; // CamVid's (src/data/label-maps.ts)
const OUTPUT_STRIDE = 16; // the camvid preset's
const KINDS: BackboneKind[] = ['resnet18', 'mobilenetv2'];
const positional = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const TIMED = Number(positional[0] ?? 10);
const WARMUP = Number(positional[1] ?? 2);
const BROWSER = !process.argv.includes('--no-browser');
const WEBGPU = BROWSER && !process.argv.includes('--no-webgpu');
const WEBGPU_PASSES = Number(process.argv.find((arg) => arg.startsWith('--webgpu-passes='))?.split('=')[1] ?? 1);
if (!(Number.isInteger(WEBGPU_PASSES) && WEBGPU_PASSES >= 1)) throw new Error(`--webgpu-passes=${WEBGPU_PASSES}: expected a whole number >= 1 (or --no-webgpu to leave the side out)`);
/**
 * Same weights: float32 in different orders differs by rounding only, ~1e-6 of max |logit| end to end
 * (src/deploy/export.test.ts); a wrong weight, layer or resize mode differs by O(1) of it. 1e-4 separates the two.
 */
const MAX_RELATIVE_DIFFERENCE = 1e-4;

/** Median ms of each side for one model. */
type Medians = Record<string, number>;

function maxAbs(values: Float32Array): number {
  let largest = 0;
  for (const value of values) largest = Math.max(largest, Math.abs(value));
  return largest;
}

function maxAbsDifference(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) throw new Error(`${actual.length} logits against ${expected.length}`);
  let largest = 0;
  for (let index = 0; index < actual.length; index++) largest = Math.max(largest, Math.abs((actual[index] as number) - (expected[index] as number)));
  return largest;
}

function checkSame(what: string, difference: number, scale: number, measure = 'max |logit difference|', scaleName = 'max |logit|'): void {
  const relative = difference / scale;
  console.log(`  same weights: ${what} ${measure} ${difference.toExponential(2)} = ${relative.toExponential(2)} of ${scaleName} ${scale.toFixed(2)}`);
  if (!(relative <= MAX_RELATIVE_DIFFERENCE)) throw new Error(`${what}: logits differ by ${relative} of their scale (> ${MAX_RELATIVE_DIFFERENCE}): not the same network`);
}

/**
 * Blocks A B ... Z Z ... B A, `WARMUP` untimed + half of `TIMED` timed passes each; the slow side (if any) once in
 * the middle, `WEBGPU_PASSES` timed passes (its set-up pass warmed it).
 */
async function measure(label: string, sides: InferenceSide[], slow?: InferenceSide): Promise<Medians> {
  const perBlock = Math.ceil(TIMED / 2);
  const times = new Map<string, number[]>([...sides, ...(slow ? [slow] : [])].map((side) => [side.name, []]));
  for (const side of sides) times.get(side.name)?.push(...(await side.runBlock(WARMUP + perBlock)).slice(WARMUP));
  if (slow) times.get(slow.name)?.push(...(await slow.runBlock(WEBGPU_PASSES)));
  for (const side of [...sides].reverse()) times.get(side.name)?.push(...(await side.runBlock(WARMUP + perBlock)).slice(WARMUP));
  const medians: Medians = {};
  for (const [name, values] of times) {
    process.stderr.write(`${label} ${name}: [${values.map((value) => value.toFixed(0)).join(' ')}] ms\n`);
    medians[name] = median(values);
  }
  return medians;
}

/** onnxruntime-web on one backend, its logits checked against onnxruntime-node's (`reference`). */
async function webSide(backend: WebBackend, onnx: Uint8Array, input: Float32Array, dims: number[], folder: string, reference: Float32Array): Promise<InferenceSide> {
  const started = performance.now();
  const browser = await browserSide(onnx, input, dims, THREADS, folder, backend);
  const { info, checksum } = browser;
  const adapter = info.adapter === null ? '' : `; WebGPU adapter vendor ${info.adapter.vendor}, architecture ${info.adapter.architecture}, fallback ${info.adapter.isFallbackAdapter}`;
  console.log(`  browser (${backend}): ${info.userAgent}; crossOriginIsolated ${info.crossOriginIsolated}, wasm threads ${info.threads}, ` +
    `hardwareConcurrency ${info.hardwareConcurrency}${adapter}; set-up + first pass ${((performance.now() - started) / 1000).toFixed(1)} s`);
  let absSum = 0;
  for (const value of reference) absSum += Math.abs(value);
  // a sum of |logits| in float32 orders: relative rounding far below 1e-4, a different network O(1)
  try {
    checkSame(`${webSideName(backend)} vs onnxruntime-node`, Math.abs(checksum.absSum - absSum), absSum, '|difference of sum |logits||', 'sum |logits|');
  } catch (error) {
    await browser.close();
    throw error;
  }
  return browser;
}

/** Builds one model, checks that every side computes the same logits, times them. */
async function benchModel(kind: BackboneKind): Promise<Medians> {
  const { folder, remove } = benchFolder();
  const model = perturbedModel(kind, OUTPUT_STRIDE, 1, CLASSES);
  const sides: InferenceSide[] = [];
  try {
    const dims = [1, 3, HEIGHT, WIDTH];
    const onnx = exportOnnx(model, { ...classTable(CLASSES), mean: IMAGENET_MEAN, std: IMAGENET_STD });
    const files = { weights: join(folder, 'weights.safetensors'), input: join(folder, 'input.f32'), logits: join(folder, 'logits.f32') };
    saveSafetensors(files.weights, model.stateDict());
    const input = noGrad(() => scope(() => {
      manualSeed(2026);
      return randn(dims).toTypedArray() as Float32Array; // [1, 3, H, W], a normalised image's statistics
    }));
    writeFileSync(files.input, input);
    const onnxNode = await onnxNodeSide(onnx, input, dims, THREADS);
    sides.push(onnxNode);
    const libtorch = libtorchSide(model, input, dims);
    sides.push(libtorch);
    const script = join(dirname(fileURLToPath(import.meta.url)), 'inference_torch.py');
    const pytorch = await pytorchSide(script, [THREADS, kind, OUTPUT_STRIDE, 1, CLASSES, files.weights, files.input, files.logits, HEIGHT, WIDTH],
      files, CLASSES * HEIGHT * WIDTH);
    sides.push(pytorch);
    const reference = await onnxNode.logits();
    const scale = maxAbs(reference);
    console.log(`${kind}: ONNX ${(onnx.length / 2 ** 20).toFixed(1)} MiB`);
    checkSame('contraseg/libtorch vs onnxruntime-node', maxAbsDifference(libtorch.logits(), reference), scale);
    checkSame('PyTorch vs onnxruntime-node', maxAbsDifference(await pytorch.logits(), reference), scale);
    if (BROWSER) sides.push(await webSide('wasm', onnx, input, dims, folder, reference));
    // pushed last, so closed first; not part of the interleaved blocks
    const slow = WEBGPU ? await webSide('webgpu', onnx, input, dims, folder, reference) : undefined;
    if (slow) sides.push(slow);
    return await measure(kind, sides.filter((side) => side !== slow), slow);
  } finally {
    for (const side of sides.reverse()) await side.close();
    model.dispose();
    remove();
  }
}

requirePytorchReference(['torch', 'torchvision', 'numpy']);
setNumThreads(THREADS);
if (getNumThreads() !== THREADS) throw new Error(`libtorch runs ${getNumThreads()} threads, asked for ${THREADS}`);
const loadBefore = loadavg();
console.log(`inference bench: ${HEIGHT}x${WIDTH}, batch 1, ${THREADS} threads, OS ${OUTPUT_STRIDE}, ${CLASSES} classes, ` +
  `${TIMED} timed passes per side (${WARMUP} warm-up per block)${WEBGPU ? `, WebGPU (SwiftShader) ${WEBGPU_PASSES} timed pass(es)` : ''}; load average ${loadBefore.map((value) => value.toFixed(2)).join(' ')}`);
const results: Record<string, Record<string, number>> = {};
for (const kind of KINDS) {
  const medians = await benchModel(kind);
  const pytorchMs = medians.PyTorch as number;
  const nodeMs = medians['onnxruntime-node'] as number;
  const webMs = medians[webSideName('wasm')];
  const webgpuMs = medians[webSideName('webgpu')];
  console.log(`${kind} DeepLabV3+ ${HEIGHT}x${WIDTH} (median ms, images/s, time / PyTorch's, time / onnxruntime-node's):`);
  for (const [name, ms] of Object.entries(medians)) console.log(`  ${name.padEnd(52)} ${ms.toFixed(1).padStart(8)} ms ${(1000 / ms).toFixed(2).padStart(7)} img/s ${(ms / pytorchMs).toFixed(3)} ${(ms / nodeMs).toFixed(3)}`);
  results[kind] = {
    onnx_node_ms: round(nodeMs), libtorch_ms: round(medians['contraseg/libtorch'] as number), pytorch_ms: round(pytorchMs),
    ratio: round(nodeMs / pytorchMs, 3), libtorch_ratio: round((medians['contraseg/libtorch'] as number) / pytorchMs, 3),
    ...(webMs === undefined ? {} : { web_ms: round(webMs), web_ratio: round(webMs / nodeMs, 3) }),
    ...(webgpuMs === undefined ? {} : { webgpu_swiftshader_ms: round(webgpuMs), webgpu_swiftshader_ratio: round(webgpuMs / nodeMs, 3) }),
    onnx_node_images_per_s: round(1000 / nodeMs, 2),
  };
}
const loadAfter = loadavg();
console.log(JSON.stringify({
  bench: 'inference', size: [HEIGHT, WIDTH], batch: 1, threads: THREADS, output_stride: OUTPUT_STRIDE, classes: CLASSES, timed: TIMED, warmup: WARMUP,
  ...(WEBGPU ? { webgpu_adapter: 'SwiftShader (software Vulkan on the CPU, not a GPU)', webgpu_passes: WEBGPU_PASSES } : {}),
  load_before: loadBefore.map((value) => round(value, 2)), load_after: loadAfter.map((value) => round(value, 2)), ...results,
}));
