/**
 * npm run bench -- inference-profile [model=resnet18] [passes=5]: where onnxruntime-web's wasm time goes, against
 * onnxruntime-node's on the same exported graph (the network of `npm run bench -- inference`, 360x480, batch 1).
 * (1) Median time of a pass at 1 and at 2 threads on both runtimes (thread scaling, and the wasm/node ratio per
 * thread count). (2) At 1 thread, both runtimes' per-node profiles (`enableProfiling`): time per operator type, and
 * the wasm nodes that take longest, with their multiply-accumulates (bench/inference_macs.py, on the PyTorch twin)
 * and the GMAC/s the wasm kernels reach on them; the network's total MACs over a pass's time gives each runtime's
 * overall GMAC/s per thread. A diagnostic of issue 11's browser target, not a target itself; last line one JSON
 * object (`ratio` = wasm / node time at 2 threads, as in the inference bench).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { IMAGENET_MEAN, IMAGENET_STD } from '../src/data/batch.js';
import { exportOnnx } from '../src/deploy/export.js';
import { classTable, perturbedModel } from '../src/deploy/parity-fixture.js';
import type { BackboneKind } from '../src/models/config.js';
import { median, round } from './lib/paired.js';
import { pythonExecutable, requirePytorchReference } from './lib/pytorch-reference.js';
import { benchFolder, browserSide, nodeSessionOptions, onnxNodeSide } from './inference-sides.js';

requirePytorchReference(['torch']);
const kind = (process.argv[2] ?? 'resnet18') as BackboneKind;
const PASSES = Number(process.argv[3] ?? 5);
if (kind !== 'resnet18' && kind !== 'mobilenetv2') throw new Error(`model ${kind}: expected resnet18 or mobilenetv2`);
if (!(Number.isInteger(PASSES) && PASSES >= 1)) throw new Error(`passes ${process.argv[3]}: expected a whole number >= 1`);
const [HEIGHT, WIDTH, CLASSES] = [360, 480, 11];
const OUTPUT_STRIDE = 16; // the camvid preset's
const dims = [1, 3, HEIGHT, WIDTH];

/** One profiling event of onnxruntime's chrome-trace JSON. */
interface ProfileEvent {
  readonly cat: string;
  readonly name: string;
  readonly dur: number;
  readonly args?: { op_name?: string };
}

/** ms per pass by operator type and by node (the `_kernel_time` events; node's NCHWc rewrite suffix dropped). */
function summarise(events: ProfileEvent[], passes: number): { byOp: Record<string, number>; byNode: Map<string, number> } {
  const byOp: Record<string, number> = {};
  const byNode = new Map<string, number>();
  for (const event of events) {
    if (event.cat !== 'Node' || !event.name.endsWith('_kernel_time')) continue;
    const ms = event.dur / 1000 / passes;
    const op = event.args?.op_name ?? '?';
    byOp[op] = round((byOp[op] ?? 0) + ms, 1);
    const node = event.name.slice(0, -'_kernel_time'.length).replace(/_nchwc$/, '');
    byNode.set(node, (byNode.get(node) ?? 0) + ms);
  }
  return { byOp, byNode };
}

async function nodeProfile(onnx: Uint8Array, input: Float32Array, folder: string): Promise<ProfileEvent[]> {
  const prefix = join(folder, 'node-profile');
  const session = await ort.InferenceSession.create(onnx, { ...nodeSessionOptions(1), enableProfiling: true, profileFilePrefix: prefix });
  const feeds = { image: new ort.Tensor('float32', input, dims) };
  for (let pass = 0; pass <= PASSES; pass++) await session.run(feeds); // pass 0 is in the profile too: PASSES + 1 passes
  session.endProfiling();
  await session.release();
  const file = readdirSync(folder).find((name) => name.startsWith('node-profile'));
  if (file === undefined) throw new Error('onnxruntime-node wrote no profile');
  return JSON.parse(readFileSync(join(folder, file), 'utf8')) as ProfileEvent[];
}

/** onnxruntime-web (wasm, 1 thread) with profiling on: the set-up's pass and PASSES more, like nodeProfile. */
async function webProfile(onnx: Uint8Array, input: Float32Array, folder: string): Promise<ProfileEvent[]> {
  const sub = join(folder, 'profile');
  mkdirSync(sub);
  const web = await browserSide(onnx, input, dims, 1, sub, 'wasm', true);
  try {
    await web.runBlock(PASSES);
    return await web.endProfiling() as ProfileEvent[];
  } finally {
    await web.close();
  }
}

const { folder, remove } = benchFolder();
try {
  const model = perturbedModel(kind, OUTPUT_STRIDE, 1, CLASSES);
  const onnx = exportOnnx(model, { ...classTable(CLASSES), mean: IMAGENET_MEAN, std: IMAGENET_STD });
  const input = new Float32Array(3 * HEIGHT * WIDTH);
  for (let index = 0; index < input.length; index++) input[index] = Math.sin(index * 0.37); // any values: the time does not depend on them
  const macsRun = spawnSync(pythonExecutable(), [join(fileURLToPath(new URL('.', import.meta.url)), 'inference_macs.py'), kind, String(OUTPUT_STRIDE), '1', String(HEIGHT), String(WIDTH)], { encoding: 'utf8' });
  if (macsRun.status !== 0) throw new Error(`inference_macs.py failed:\n${macsRun.stderr}`);
  const macs = JSON.parse(macsRun.stdout) as Record<string, number>;
  const totalGmac = Object.values(macs).reduce((sum, value) => sum + value, 0) / 1e9;

  // (1) thread scaling: median of PASSES timed passes after one warm-up, node then web, at 1 and 2 threads
  const medians: Record<string, { node: number; web: number }> = {};
  for (const threads of [1, 2]) {
    const node = await onnxNodeSide(onnx, input, dims, threads);
    const nodeMs = median((await node.runBlock(PASSES + 1)).slice(1));
    await node.close();
    const sub = join(folder, `threads-${threads}`);
    mkdirSync(sub);
    const web = await browserSide(onnx, input, dims, threads, sub, 'wasm');
    const webMs = median((await web.runBlock(PASSES + 1)).slice(1));
    await web.close();
    medians[threads] = { node: round(nodeMs, 1), web: round(webMs, 1) };
    console.log(`${threads} thread(s): onnxruntime-node ${nodeMs.toFixed(0)} ms (${(totalGmac / nodeMs * 1000 / threads).toFixed(1)} GMAC/s per thread), ` +
      `onnxruntime-web wasm ${webMs.toFixed(0)} ms (${(totalGmac / webMs * 1000 / threads).toFixed(1)} GMAC/s per thread), wasm / node ${(webMs / nodeMs).toFixed(2)}`);
  }

  // (2) per-node profiles at 1 thread
  const nodeSummary = summarise(await nodeProfile(onnx, input, folder), PASSES + 1);
  const webSummary = summarise(await webProfile(onnx, input, folder), PASSES + 1);
  const webTotal = [...webSummary.byNode.values()].reduce((sum, value) => sum + value, 0);
  console.log(`${kind}, 360x480, ${totalGmac.toFixed(2)} GMAC a pass; ms per pass by operator, 1 thread:`);
  console.log(`  onnxruntime-node: ${JSON.stringify(nodeSummary.byOp)}`);
  console.log(`  onnxruntime-web wasm: ${JSON.stringify(webSummary.byOp)}`);
  const top = [...webSummary.byNode].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([node, ms]) => {
    const gmac = (macs[node] ?? Number.NaN) / 1e9;
    return { node, web_ms: round(ms, 1), share: round(ms / webTotal, 3), gmac: round(gmac, 2), web_gmac_per_s: round(gmac / ms * 1000, 1) };
  });
  console.log('  slowest wasm nodes:');
  for (const row of top) console.log(`    ${row.node.padEnd(40)} ${row.web_ms.toFixed(0).padStart(6)} ms (${(100 * row.share).toFixed(1)}%)  ${row.gmac.toFixed(2)} GMAC  ${row.web_gmac_per_s.toFixed(1)} GMAC/s`);
  console.log(JSON.stringify({
    bench: 'inference-profile', model: kind, size: [HEIGHT, WIDTH], passes: PASSES, total_gmac: round(totalGmac, 2), medians_ms: medians,
    wasm_over_node: { 1: round(medians[1]!.web / medians[1]!.node, 3), 2: round(medians[2]!.web / medians[2]!.node, 3) },
    ops_ms_1_thread: { node: nodeSummary.byOp, web: webSummary.byOp }, slowest_wasm_nodes: top,
    ratio: round(medians[2]!.web / medians[2]!.node, 3),
  }));
} finally {
  remove();
}
