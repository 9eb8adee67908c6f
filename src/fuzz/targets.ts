/**
 * What the file fuzzer attacks: every reader of a file a user hands contraseg, through its public entry
 * point. A target makes its valid seed files once per process, turns (seed, case) into one mutated input,
 * writes it where the reader expects a file and calls the reader. The reader may succeed or throw a
 * ContrasegError; anything else is a finding (src/fuzz/run.ts classifies, times and watches memory).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { stringify as stringifyYaml } from 'yaml';
import { Rng } from '../augment/rng.js';
import { decodeImage, decodeLabelValues } from '../data/image-io.js';
import { encodePng } from '../data/png.js';
import { loadSafetensors, encodeSafetensors } from '../torch/safetensors.js';
import { tensor } from '../torch/creation.js';
import { scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { resolveRunConfig, mergeConfig } from '../cli/run-config.js';
import { parseRunConfig } from '../train/config.js';
import { preset } from '../train/presets.js';
import { saveCheckpoint } from '../train/checkpoint.js';
import { openTrainedModel } from '../train/load-model.js';
import { buildFinetuneModel } from '../train/finetune.js';
import { encodeChecked, sha256Hex, type CheckpointMeta } from '../train/checkpoint-format.js';
import { HUGE_DIMS, mutateBytes, mutateJpeg, mutatePng, mutateProtobuf, mutateSafetensors, pick, type Mutant } from './mutate.js';

/** One fuzz target. `run` reads the input from `dir` (a scratch directory of its own) through the real reader. */
export interface FuzzTarget {
  readonly name: string;
  readonly description: string;
  /** Self-test targets of the harness: never in a default run. */
  readonly internal?: boolean;
  /** Cases of this target per round of the schedule (default 3; a slow target gets fewer). */
  readonly weight?: number;
  /** Writes the mutated input of case `rng` into `dir` (shared by every case: overwrite); returns what was done. */
  prepare(dir: string, rng: Rng): Promise<Mutant>;
  /** Reads it back through the real reader. Resolves on success; throws what the reader throws. */
  run(dir: string): Promise<void>;
}

function randomBytes(rng: Rng, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => rng.integer(0, 255));
}

// Small seeds keep a case fast (10k cases within minutes on 2 shared cores), yet hold every structure.
const SEED_WIDTH = 24;
const SEED_HEIGHT = 16;

let imageSeeds: Promise<Uint8Array[]> | undefined;
/** RGB PNG, RGBA PNG, baseline JPEG, progressive JPEG, greyscale PNG (by libvips, not ours). */
function rgbSeeds(): Promise<Uint8Array[]> {
  imageSeeds ??= (async () => {
    const pixels = Buffer.from(randomBytes(new Rng(1), SEED_WIDTH * SEED_HEIGHT * 3));
    const raw = { raw: { width: SEED_WIDTH, height: SEED_HEIGHT, channels: 3 as const } };
    return Promise.all([
      sharp(pixels, raw).png().toBuffer(),
      sharp(pixels, raw).ensureAlpha().png().toBuffer(),
      sharp(pixels, raw).jpeg({ quality: 80 }).toBuffer(),
      sharp(pixels, raw).jpeg({ progressive: true }).toBuffer(),
      sharp(pixels, raw).greyscale().png().toBuffer(),
    ]);
  })();
  return imageSeeds;
}

let maskSeedList: Promise<Uint8Array[]> | undefined;
/** Palette PNG and greyscale PNG by contraseg's encoder; greyscale PNG and JPEG by libvips. */
function maskSeeds(): Promise<Uint8Array[]> {
  maskSeedList ??= (async () => {
    const rng = new Rng(2);
    const values = Uint8Array.from({ length: SEED_WIDTH * SEED_HEIGHT }, () => rng.integer(0, 11));
    const palette = Uint8Array.from({ length: 12 * 3 }, (_, i) => (i * 37) & 0xff);
    const raw = { raw: { width: SEED_WIDTH, height: SEED_HEIGHT, channels: 1 as const } };
    return [
      encodePng(values, SEED_WIDTH, SEED_HEIGHT, palette),
      encodePng(values, SEED_WIDTH, SEED_HEIGHT),
      await sharp(Buffer.from(values), raw).png().toBuffer(),
      // b-w: without it libvips writes a 3-channel JPEG, which the mask reader rejects before decoding.
      await sharp(Buffer.from(values), raw).toColourspace('b-w').jpeg().toBuffer(),
    ];
  })();
  return maskSeedList;
}

function isPngBytes(bytes: Uint8Array): boolean {
  return bytes[0] === 0x89 && bytes[1] === 0x50;
}

/** Half format-blind edits, half structural ones (PNG chunks with CRCs fixed, JPEG frame sizes). */
function mutateImage(seed: Uint8Array, rng: Rng): Mutant {
  if (rng.chance(0.5)) return mutateBytes(seed, rng);
  return isPngBytes(seed) ? mutatePng(seed, rng) : mutateJpeg(seed, rng);
}

const imageTarget: FuzzTarget = {
  name: 'image',
  description: 'RGB images (PNG, JPEG) through decodeImage: the dataset reader and predict\'s input',
  async prepare(dir, rng) {
    const mutant = mutateImage(pick(rng, await rgbSeeds()), rng);
    writeFileSync(join(dir, 'image'), mutant.bytes);
    return mutant;
  },
  async run(dir) {
    await decodeImage(join(dir, 'image'));
  },
};

const maskTarget: FuzzTarget = {
  name: 'mask',
  description: 'label maps (palette/grey PNG by contraseg\'s reader, other formats by sharp) through decodeLabelValues',
  async prepare(dir, rng) {
    const mutant = mutateImage(pick(rng, await maskSeeds()), rng);
    writeFileSync(join(dir, 'mask'), mutant.bytes);
    return mutant;
  },
  async run(dir) {
    await decodeLabelValues(join(dir, 'mask'));
  },
};

let safetensorsSeed: Uint8Array | undefined;
function safetensorsBytes(): Uint8Array {
  safetensorsSeed ??= scope(() => encodeSafetensors(new Map<string, Tensor>([
    ['weight', tensor([1, 2, 3, 4, 5, 6], [2, 3])],
    ['steps', tensor([1, 2, 3, 4], [4], { dtype: 'int64' })],
    ['pixels', tensor(Uint8Array.from([1, 2, 3, 4]), [2, 2])],
    ['mask', tensor(Uint8Array.from([1, 0, 1]), [3], { dtype: 'bool' })],
    ['scale', tensor(new Float64Array([0.5]), [])],
  ]), { format: 'pt', note: 'fuzz seed' }));
  return safetensorsSeed;
}

const safetensorsTarget: FuzzTarget = {
  name: 'safetensors',
  description: 'safetensors files (weights, backbone weights) through loadSafetensors; headers may claim terabytes',
  async prepare(dir, rng) {
    const mutant = rng.chance(0.4) ? mutateBytes(safetensorsBytes(), rng) : mutateSafetensors(safetensorsBytes(), rng);
    writeFileSync(join(dir, 'weights.safetensors'), mutant.bytes);
    return mutant;
  },
  async run(dir) {
    const { tensors } = loadSafetensors(join(dir, 'weights.safetensors'));
    for (const value of tensors.values()) value.dispose();
  },
};

/** A tiny but complete run config (ResNet-18 x0.125), as `contraseg train` validates and records it. */
function smallConfig(): Record<string, unknown> {
  const input = mergeConfig(preset('camvid-quick'), { model: { widthMultiplier: 0.125, outputStride: 16 } });
  return structuredClone(parseRunConfig(input)) as unknown as Record<string, unknown>;
}

let configSeeds: string[] | undefined;
function configTexts(): string[] {
  configSeeds ??= [stringifyYaml(smallConfig()), `${JSON.stringify(smallConfig(), null, 2)}\n`,
    'method: within\ndata:\n  kind: camvid\n  root: data\nmodel: &m\n  backbone: resnet18\nfinetune: { steps: 10 }\n'];
  return configSeeds;
}

/** YAML values that test a schema and a YAML parser: huge, negative, wrong types, aliases, tags, deep nesting. */
const CONFIG_VALUES = ['1e308', '-1', '0', '.nan', '.inf', 'null', '~', "''", '[]', '{}', '"x"', 'true', '2.5', '99999999999999999999',
  '*m', '&a [*a]', '!!binary AAAA', '!!js/function "() => 1"', '[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]', '{__proto__: {polluted: 1}}'];

function mutateConfig(text: string, rng: Rng): Mutant {
  if (rng.chance(0.5)) return mutateBytes(Buffer.from(text, 'utf8'), rng);
  const lines = text.split('\n');
  const index = rng.integer(0, lines.length - 1);
  const line = lines[index] as string;
  const colon = line.indexOf(':');
  if (colon >= 0 && rng.chance(0.8)) lines[index] = `${line.slice(0, colon + 1)} ${pick(rng, CONFIG_VALUES)}`;
  else lines.splice(index, 0, `${pick(rng, ['__proto__', 'constructor', 'model', 'extra', '<<'])}: ${pick(rng, CONFIG_VALUES)}`);
  return { kind: 'config-value', bytes: Buffer.from(lines.join('\n'), 'utf8') };
}

const configTarget: FuzzTarget = {
  name: 'config',
  description: 'run config files (YAML/JSON) through the CLI\'s config resolution (readConfigFile + schema)',
  async prepare(dir, rng) {
    const mutant = mutateConfig(pick(rng, configTexts()), rng);
    writeFileSync(join(dir, 'config.yaml'), mutant.bytes);
    return mutant;
  },
  async run(dir) {
    resolveRunConfig({ configFile: join(dir, 'config.yaml'), flags: {}, assignments: [] });
    if (Object.keys(Object.prototype).length > 0) {
      throw new Error(`prototype pollution: Object.prototype gained ${Object.keys(Object.prototype).join(', ')}`);
    }
  },
};

interface CheckpointFiles {
  /** File name -> bytes, relative to the run directory's checkpoints/. */
  readonly files: Map<string, Uint8Array>;
  readonly json: string;
  readonly tensors: string;
}

let checkpointSeed: CheckpointFiles | undefined;
/** A fine-tuned checkpoint of the tiny model with a class table, saved by the real saveCheckpoint. */
function checkpointFiles(scratch: string): CheckpointFiles {
  if (checkpointSeed !== undefined) return checkpointSeed;
  const runDir = join(scratch, 'seed-run');
  rmSync(runDir, { recursive: true, force: true });
  const config = smallConfig();
  const model = buildFinetuneModel(parseRunConfig(config), 3);
  try {
    saveCheckpoint(runDir, 'finetune', {
      model, step: 7, stage: 'finetune', loaderPosition: { epoch: 0, batch: 7 }, config, splitIds: ['a', 'b'],
      metrics: { classes: { names: ['sky', 'road', 'car'], colours: [[0, 0, 255], [128, 128, 128], [255, 0, 0]] }, logitAdjustment: { tau: 0, pixels: [5, 3, 0] } },
    });
  } finally {
    model.dispose();
  }
  const directory = join(runDir, 'checkpoints');
  const files = new Map(readdirSync(directory).map((name) => [name, new Uint8Array(readFileSync(join(directory, name)))]));
  const json = [...files.keys()].find((name) => name.endsWith('.json') && name !== 'finetune.json') as string;
  const tensors = [...files.keys()].find((name) => name.endsWith('.safetensors')) as string;
  rmSync(runDir, { recursive: true, force: true });
  checkpointSeed = { files, json, tensors };
  return checkpointSeed;
}

/** Meta fields and values for re-sealed edits (checksums recomputed, so the loader acts on the values). */
function editMeta(meta: Record<string, unknown>, rng: Rng): string {
  const config = meta.config as Record<string, Record<string, unknown>>;
  switch (rng.integer(0, 5)) {
    case 0: meta.step = pick(rng, HUGE_DIMS); return 'checkpoint-step';
    case 1: (config.model as Record<string, unknown>).backbone = pick(rng, ['resnet50', 'mobilenetv2', 'vgg', 5]); return 'checkpoint-config-backbone';
    case 2: (meta.metrics as Record<string, unknown>).classes = pick(rng, [null, 5, { names: [], colours: [] },
      { names: ['a'], colours: [[1, 2, 3]] }, { names: Array(3).fill({}), colours: [1, 2, 3] }]); return 'checkpoint-classes';
    case 3: meta.stage = pick(rng, ['pretrain', 'train', null]); return 'checkpoint-stage';
    case 4: (meta.metrics as Record<string, unknown>).logitAdjustment = pick(rng, [undefined, null, 'x', { tau: 1, pixels: [5, 3, 0] },
      { tau: 2, pixels: [0, 0, 0] }, { tau: -1, pixels: [1, 1, 1] }, { tau: 1, pixels: [1, 2] }, { tau: 1e308, pixels: [1e300, 1, 1] }]);
      (config.finetune ??= {}).logitAdjustment = pick(rng, [0, 1, 1e6]);
      return 'checkpoint-logit-adjustment';
    default: (meta.model as Record<string, unknown>).fingerprint = sha256Hex(String(rng.next())); return 'checkpoint-fingerprint';
  }
}

function mutateCheckpoint(seed: CheckpointFiles, rng: Rng): { kind: string; files: Map<string, Uint8Array> } {
  const files = new Map(seed.files);
  const meta = JSON.parse(Buffer.from(files.get(seed.json) as Uint8Array).toString('utf8')) as Record<string, unknown>;
  delete meta.jsonSha256;
  switch (rng.integer(0, 3)) {
    case 0: {
      const name = pick(rng, [...files.keys()]);
      const mutant = mutateBytes(files.get(name) as Uint8Array, rng);
      files.set(name, mutant.bytes);
      return { kind: `checkpoint-raw-${name.endsWith('.safetensors') ? 'tensors' : name === 'finetune.json' ? 'pointer' : 'json'}-${mutant.kind}`, files };
    }
    case 1: {
      // The tensors file altered and the JSON re-sealed over it: the safetensors reader and the restore see it.
      const mutant = rng.chance(0.5) ? mutateSafetensors(files.get(seed.tensors) as Uint8Array, rng) : mutateBytes(files.get(seed.tensors) as Uint8Array, rng);
      files.set(seed.tensors, mutant.bytes);
      meta.tensors = { ...(meta.tensors as object), bytes: mutant.bytes.byteLength, sha256: sha256Hex(mutant.bytes) };
      files.set(seed.json, encodeChecked(meta as CheckpointMeta));
      return { kind: `checkpoint-resealed-tensors-${mutant.kind}`, files };
    }
    case 2: {
      const kind = editMeta(meta, rng);
      files.set(seed.json, encodeChecked(meta as CheckpointMeta));
      return { kind: `${kind}-resealed`, files };
    }
    default: {
      files.delete(pick(rng, [...files.keys()]));
      return { kind: 'checkpoint-missing-file', files };
    }
  }
}

const checkpointTarget: FuzzTarget = {
  name: 'checkpoint',
  // A re-sealed checkpoint builds and restores a model (~10x a decode): one case in 13, not one in 5.
  weight: 1,
  description: 'fine-tuned run checkpoints (pointer, JSON, safetensors) through openTrainedModel, as eval/predict/export load them',
  async prepare(dir, rng) {
    const { kind, files } = mutateCheckpoint(checkpointFiles(join(dir, '..')), rng);
    const directory = join(dir, 'run', 'checkpoints');
    rmSync(join(dir, 'run'), { recursive: true, force: true }); // a dropped file must be absent
    mkdirSync(directory, { recursive: true });
    for (const [name, bytes] of files) writeFileSync(join(directory, name), bytes);
    return { kind, bytes: files.get(pick(rng, [...files.keys()])) ?? new Uint8Array(0) };
  },
  async run(dir) {
    (await openTrainedModel(join(dir, 'run'))).model.dispose();
  },
};

let onnxSeed: Uint8Array | undefined;
/** The tiny fine-tuned model exported by contraseg export's exporter. */
async function onnxBytes(): Promise<Uint8Array> {
  if (onnxSeed !== undefined) return onnxSeed;
  const { exportOnnx } = await import('../deploy/export.js');
  const model = buildFinetuneModel(parseRunConfig(smallConfig()), 3);
  try {
    onnxSeed = exportOnnx(model, { classNames: ['sky', 'road', 'car'], colours: [[0, 0, 255], [128, 128, 128], [255, 0, 0]],
      mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  } finally {
    model.dispose();
  }
  return onnxSeed;
}

const onnxTarget: FuzzTarget = {
  name: 'onnx',
  // An onnxruntime session per case: a few times a decode.
  weight: 1,
  description: 'exported ONNX models through deploy load() and one segment() call, as predict/serve use them',
  async prepare(dir, rng) {
    const mutant = mutateProtobuf(await onnxBytes(), rng);
    writeFileSync(join(dir, 'model.onnx'), mutant.bytes);
    return mutant;
  },
  async run(dir) {
    const { load } = await import('../deploy/segmenter.js');
    const segmenter = await load(join(dir, 'model.onnx'), { threads: 1 });
    try {
      await segmenter.segment({ data: new Uint8Array(SEED_WIDTH * SEED_HEIGHT * 3).fill(90), width: SEED_WIDTH, height: SEED_HEIGHT });
    } finally {
      await segmenter.dispose();
    }
  },
};

/** Harness self-tests (src/fuzz/fuzz.test.ts): each must be reported as the failure its name says. */
const selfTests: FuzzTarget[] = [
  ['selftest-abort', 'aborts the process (a native crash)', () => { process.abort(); }],
  ['selftest-hang', 'never finishes (a hang)', () => new Promise<void>(() => { setInterval(() => undefined, 1000); })],
  ['selftest-untyped', 'throws a plain TypeError', () => { throw new TypeError('untyped'); }],
  ['selftest-memory', 'allocates without bound', () => {
    const hoard: Buffer[] = [];
    for (;;) hoard.push(Buffer.alloc(64 << 20, 1));
  }],
  ['selftest-typed', 'throws a ContrasegError (allowed)', async () => {
    const { DatasetError } = await import('../errors.js');
    throw new DatasetError('typed');
  }],
].map(([name, description, body]) => ({
  name: name as string, description: description as string, internal: true,
  prepare: async () => ({ kind: 'none', bytes: new Uint8Array(0) }),
  run: async () => { await (body as () => unknown)(); },
}));

/** Every target; `internal` ones only when named. */
export const TARGETS: readonly FuzzTarget[] = [imageTarget, maskTarget, safetensorsTarget, checkpointTarget, configTarget, onnxTarget, ...selfTests];

/** Looks a target up by name. @throws Error listing the names (a harness usage error). */
export function targetNamed(name: string): FuzzTarget {
  const found = TARGETS.find((target) => target.name === name);
  if (found === undefined) throw new Error(`unknown fuzz target '${name}'; known: ${TARGETS.map((target) => target.name).join(', ')}`);
  return found;
}
