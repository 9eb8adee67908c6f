/** Checkpoints: a bit-exact resume, and a CheckpointError naming the file for every kind of damage. */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualSeed, randint, randn } from '../torch/creation.js';
import * as F from '../torch/ops/functional.js';
import { SGD } from '../torch/optim/sgd.js';
import { keep, liveTensorCount, noGrad, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { buildSegmentationModel } from '../models/build.js';
import type { SegmentationModel } from '../models/segmentation-model.js';
import type { ResNetBackboneConfig } from '../models/config.js';
import { CheckpointError } from '../errors.js';
import { nodeFs, type CheckpointFs } from './checkpoint-io.js';
import { encodeChecked, type CheckpointMeta } from './checkpoint-format.js';
import {
  findLatestCheckpoint, readCheckpoint, restoreCheckpoint, resumeFromCheckpoint, saveCheckpoint, type CheckpointContent,
} from './checkpoint.js';

const BACKBONE: ResNetBackboneConfig = { kind: 'resnet18', outputStride: 16, widthMultiplier: 0.0625 };
const NETWORK = { backbone: BACKBONE, asppChannels: 8, reductionChannels: 4, decoderChannels: 8 }; // ASPP dropout draws from the RNG
const CLASSES = 3;
const CONFIG = { optimizer: { kind: 'sgd', lr: 0.05 }, seed: 1, unset: undefined, nested: [1, 'two', null, { three: true }] };

interface Run {
  model: SegmentationModel;
  optimizer: SGD;
}

function buildRun(seed: number, numClasses = CLASSES): Run {
  manualSeed(seed);
  const model = buildSegmentationModel({ network: NETWORK, head: { kind: 'classifier', numClasses } });
  return { model, optimizer: new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 }) };
}

function disposeRun(run: Run): void {
  run.optimizer.dispose();
  run.model.dispose();
}

function trainSteps(run: Run, images: Tensor, labels: Tensor, steps: number): void {
  for (let step = 0; step < steps; step += 1) {
    scope(() => {
      F.crossEntropy(run.model.forward(images), labels).backward(); // logits [2, 3, 8, 8]
      noGrad(() => run.optimizer.step());
      run.optimizer.zeroGrad();
    });
  }
}

/** Each tensor's raw bytes, for bit-for-bit comparisons. */
function snapshot(tensors: Map<string, Tensor>): Map<string, Buffer> {
  return new Map([...tensors].map(([key, value]) => {
    const data = value.toTypedArray();
    return [key, Buffer.from(data.buffer, data.byteOffset, data.byteLength)];
  }));
}

function randomBytes(): Buffer {
  return scope(() => Buffer.from(randn([16]).toTypedArray().buffer));
}

function content(run: Run, step: number, extra: Partial<CheckpointContent> = {}): CheckpointContent {
  return { model: run.model, optimizer: run.optimizer, step, stage: 'finetune', loaderPosition: { epoch: 1, batch: step },
    config: CONFIG, splitIds: ['0001TP_006690', '0006R0_f02910'], metrics: { valMIoU: 0.25 }, ...extra };
}

function checkpointError(file: string, pattern: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof CheckpointError, `expected a CheckpointError, got ${String(error)}`);
    assert.equal(error.code, 'CHECKPOINT');
    assert.ok(error.message.includes(file), `message should name ${file}: ${error.message}`);
    assert.match(error.message, pattern);
    return true;
  };
}

const temp = mkdtempSync(join(tmpdir(), 'contraseg-checkpoint-'));
after(() => rmSync(temp, { recursive: true, force: true }));
let runIndex = 0;
function freshRunDir(): string {
  runIndex += 1;
  return join(temp, `run-${runIndex}`);
}

describe('saveCheckpoint + resumeFromCheckpoint', () => {
  it('resume bit for bit: weights, momentum buffers, two further steps and the RNG stream', () => {
    const liveBefore = liveTensorCount();
    const original = buildRun(1);
    const images = keep(randn([2, 3, 32, 32]));
    const labels = keep(randint(0, CLASSES, [2, 8, 8]));
    trainSteps(original, images, labels, 2);
    const runDir = freshRunDir();
    const path = saveCheckpoint(runDir, 'last', content(original, 2));
    const savedWeights = snapshot(original.model.stateDict());
    const savedMomentum = snapshot(original.optimizer.stateDict().tensors);
    assert.equal(savedMomentum.size, original.model.parameters().length);
    trainSteps(original, images, labels, 2);
    const expectedWeights = snapshot(original.model.stateDict());
    const expectedDraw = randomBytes();

    const resumed = buildRun(99);
    assert.notDeepEqual(snapshot(resumed.model.stateDict()), savedWeights);
    const state = resumeFromCheckpoint(runDir, resumed);
    assert.deepEqual(state, { step: 2, stage: 'finetune', loaderPosition: { epoch: 1, batch: 2 }, config: { optimizer: CONFIG.optimizer, seed: 1, nested: CONFIG.nested },
      splitIds: ['0001TP_006690', '0006R0_f02910'], metrics: { valMIoU: 0.25 }, file: path, problems: [] });
    assert.ok(!('unset' in state.config), 'undefined fields are dropped as JSON does');
    assert.deepEqual(snapshot(resumed.model.stateDict()), savedWeights);
    assert.deepEqual(snapshot(resumed.optimizer.stateDict().tensors), savedMomentum);
    trainSteps(resumed, images, labels, 2);
    assert.deepEqual(snapshot(resumed.model.stateDict()), expectedWeights);
    assert.deepEqual(randomBytes(), expectedDraw);

    for (const run of [original, resumed]) disposeRun(run);
    images.dispose();
    labels.dispose();
    assert.equal(liveTensorCount(), liveBefore);
  });
});

describe('checkpoint files', () => {
  let run: Run;
  before(() => { run = buildRun(2); });
  after(() => disposeRun(run));

  it('lay out as <name>-<step>-<save>.safetensors and .json, and the pointer <name>.json, pruned to `keep`', () => {
    const runDir = freshRunDir();
    const directory = join(runDir, 'checkpoints');
    for (const step of [1, 2, 3]) saveCheckpoint(runDir, 'last', content(run, step), { keep: 2 });
    saveCheckpoint(runDir, 'best', content(run, 2, { metrics: { valMIoU: 0.5 } }));
    assert.deepEqual(readdirSync(directory).sort(), ['best-000000002-1.json', 'best-000000002-1.safetensors', 'best.json',
      'last-000000002-2.json', 'last-000000002-2.safetensors', 'last-000000003-3.json', 'last-000000003-3.safetensors', 'last.json']);
    saveCheckpoint(runDir, 'last', content(run, 4));
    assert.deepEqual(readdirSync(directory).filter((file) => file.startsWith('last')).sort(),
      ['last-000000004-4.json', 'last-000000004-4.safetensors', 'last.json']);
    assert.equal(findLatestCheckpoint(runDir), join(directory, 'last-000000004-4.json'));
    assert.equal(findLatestCheckpoint(runDir, { name: 'best' }), join(directory, 'best-000000002-1.json'));
    assert.equal(findLatestCheckpoint(join(temp, 'never-written')), undefined);
  });

  it('read from a run dir, the checkpoints dir, the pointer, the JSON or the safetensors file alike, without leaks', () => {
    const runDir = freshRunDir();
    const path = saveCheckpoint(runDir, 'last', content(run, 7));
    const tensorsFile = readdirSync(join(runDir, 'checkpoints')).find((file) => file.endsWith('.safetensors')) as string;
    const liveBefore = liveTensorCount();
    for (const source of [runDir, join(runDir, 'checkpoints'), join(runDir, 'checkpoints', 'last.json'), path,
      join(runDir, 'checkpoints', tensorsFile)]) {
      const checkpoint = readCheckpoint(source);
      assert.equal(checkpoint.file, path, source);
      assert.equal(checkpoint.meta.step, 7);
      assert.equal(checkpoint.tensors.size, run.model.stateDict().size + run.optimizer.stateDict().tensors.size);
      checkpoint.dispose();
    }
    assert.equal(liveTensorCount(), liveBefore);
  });

  it('a re-saved step (resumed from an earlier checkpoint) replaces the old one and is the latest', () => {
    const runDir = freshRunDir();
    saveCheckpoint(runDir, 'last', content(run, 5), { keep: 3 });
    saveCheckpoint(runDir, 'last', content(run, 6), { keep: 3 });
    saveCheckpoint(runDir, 'last', content(run, 5, { metrics: { valMIoU: 0.75 } }), { keep: 3 });
    const checkpoint = readCheckpoint(runDir);
    checkpoint.dispose();
    assert.deepEqual([checkpoint.meta.step, checkpoint.meta.metrics, checkpoint.meta.sequence], [5, { valMIoU: 0.75 }, 3]);
  });

  it('reject values JSON cannot round-trip, a bad step and a bad name before writing anything', () => {
    const runDir = freshRunDir();
    assert.throws(() => saveCheckpoint(runDir, 'last', content(run, 1, { metrics: { loss: Number.NaN } })),
      checkpointError('metrics.loss', /cannot save metrics\.loss: NaN is not a finite number/));
    assert.throws(() => saveCheckpoint(runDir, 'last', content(run, 1, { config: { when: new Date(0) } })),
      checkpointError('config.when', /a Date instance is not JSON/));
    assert.throws(() => saveCheckpoint(runDir, 'last', content(run, 1.5)), checkpointError('step', /non-negative integer, got 1.5/));
    assert.throws(() => saveCheckpoint(runDir, 'last-1', content(run, 1)), checkpointError('last-1', /letters, digits and underscores/));
    assert.equal(findLatestCheckpoint(runDir), undefined);
  });
});

describe('damaged or mismatched checkpoints throw a CheckpointError naming the file', () => {
  let run: Run;
  before(() => { run = buildRun(3); });
  after(() => disposeRun(run));

  /** A run dir with checkpoints at steps 1 and then 2 (keep 2), and the files of step 2. */
  function twoCheckpoints(): { runDir: string; json: string; tensors: string; older: string } {
    const runDir = freshRunDir();
    const older = saveCheckpoint(runDir, 'last', content(run, 1), { keep: 2 });
    const json = saveCheckpoint(runDir, 'last', content(run, 2), { keep: 2 });
    const meta = JSON.parse(readFileSync(json, 'utf8')) as { tensors: { file: string } };
    return { runDir, json, tensors: join(runDir, 'checkpoints', meta.tensors.file), older };
  }

  it('truncated tensors file: the JSON path says so; the run dir falls back to the older checkpoint', () => {
    const { runDir, json, tensors, older } = twoCheckpoints();
    truncateSync(tensors, 100);
    assert.throws(() => readCheckpoint(json), checkpointError(tensors, /truncated or altered: 100 bytes/));
    const fallback = readCheckpoint(runDir);
    fallback.dispose();
    assert.equal(fallback.file, older);
    assert.match(fallback.problems.join(), /truncated or altered/);
    assert.equal(findLatestCheckpoint(runDir), older);
  });

  it('a flipped byte in the tensors or in the JSON: checksum mismatch', () => {
    const { json, tensors } = twoCheckpoints();
    const bytes = readFileSync(tensors);
    bytes[bytes.length - 3] ^= 0x10;
    writeFileSync(tensors, bytes);
    assert.throws(() => readCheckpoint(json), checkpointError(tensors, /checksum mismatch: the file was altered or truncated/));
    writeFileSync(json, readFileSync(json, 'utf8').replace('"step": 2', '"step": 3'));
    assert.throws(() => readCheckpoint(json), checkpointError(json, /checksum mismatch: the JSON was altered or truncated/));
  });

  it('a missing JSON, tensors file or path', () => {
    const { runDir, json, tensors } = twoCheckpoints();
    unlinkSync(tensors);
    assert.throws(() => readCheckpoint(json), checkpointError(tensors, /missing file/));
    unlinkSync(json);
    assert.throws(() => readCheckpoint(json), checkpointError(json, /missing file/));
    assert.throws(() => readCheckpoint(join(runDir, 'nothing-here')), checkpointError('nothing-here', /missing file/));
    assert.throws(() => readCheckpoint(freshRunDir()), /missing file/);
    assert.throws(() => readCheckpoint(runDir, { name: 'best' }), checkpointError(runDir, /missing file: no checkpoint 'best'/));
  });

  it('a garbage pointer: the newest intact checkpoint is used and the problem reported; with none, an error', () => {
    const { runDir, json, older } = twoCheckpoints();
    const pointer = join(runDir, 'checkpoints', 'last.json');
    writeFileSync(pointer, 'garbage');
    const fallback = readCheckpoint(runDir);
    fallback.dispose();
    assert.equal(fallback.file, json);
    assert.match(fallback.problems[0], /last\.json: unreadable JSON/);
    unlinkSync(json);
    unlinkSync(older);
    assert.throws(() => readCheckpoint(runDir), checkpointError(pointer, /no complete checkpoint 'last' here: .*last\.json: unreadable JSON/));
    assert.throws(() => findLatestCheckpoint(runDir), checkpointError(pointer, /unreadable JSON/));
  });

  it('unreadable JSON and another format version', () => {
    const { json } = twoCheckpoints();
    const text = readFileSync(json, 'utf8');
    writeFileSync(json, text.slice(0, text.length / 2));
    assert.throws(() => readCheckpoint(json), checkpointError(json, /unreadable JSON .*altered or truncated/));
    writeFileSync(json, text.replace('"version": 1', '"version": 2'));
    assert.throws(() => readCheckpoint(json), checkpointError(json, /format version 2; this contraseg reads version 1/));
    writeFileSync(json, '{"format": "something-else"}');
    assert.throws(() => readCheckpoint(json), checkpointError(json, /not a contraseg checkpoint/));
  });

  it('a JSON naming a tensors file outside its directory (checksums made to match)', () => {
    const { json } = twoCheckpoints();
    const { jsonSha256: _, ...meta } = JSON.parse(readFileSync(json, 'utf8')) as CheckpointMeta & { jsonSha256: string };
    writeFileSync(json, encodeChecked({ ...meta, tensors: { ...meta.tensors, file: '../../elsewhere.safetensors' } }));
    assert.throws(() => readCheckpoint(json), checkpointError(json, /invalid field 'tensors.file': expected a .safetensors file name without directories/));
  });

  it('another model: rejected listing the differing keys, before any weight is copied', () => {
    const { json } = twoCheckpoints();
    const other = buildRun(4, CLASSES + 1);
    const before = snapshot(other.model.stateDict());
    const checkpoint = readCheckpoint(json);
    try {
      assert.throws(() => restoreCheckpoint(checkpoint, other), checkpointError(json,
        /another model architecture: other shapes: head\.conv\.weight \(checkpoint \[3, 8, 1, 1\], model \[4, 8, 1, 1\]\), head\.conv\.bias/));
      assert.deepEqual(snapshot(other.model.stateDict()), before);
      assert.equal(other.optimizer.stateDict().tensors.size, 0);
    } finally {
      checkpoint.dispose();
      disposeRun(other);
    }
  });

  it('restoring an optimiser from a weights-only checkpoint', () => {
    const runDir = freshRunDir();
    const path = saveCheckpoint(runDir, 'best', { ...content(run, 1), optimizer: undefined });
    assert.throws(() => resumeFromCheckpoint(path, run), checkpointError(path, /has no optimizer state/));
    assert.equal(resumeFromCheckpoint(path, { model: run.model }).step, 1);
  });
});

describe('failed writes leave the previous checkpoint intact', () => {
  let run: Run;
  before(() => { run = buildRun(5); });
  after(() => disposeRun(run));

  it('a full disk while writing the JSON (injected ENOSPC): CheckpointError naming it, step 1 still latest, no temp left', () => {
    const runDir = freshRunDir();
    const first = saveCheckpoint(runDir, 'last', content(run, 1));
    let failedFd: number | undefined;
    const fullDisk: CheckpointFs = {
      ...nodeFs,
      openSync: (path, flags) => {
        const fd = nodeFs.openSync(path, flags);
        if (path.includes('last-000000002-2.json.tmp')) failedFd = fd;
        return fd;
      },
      writeSync: (fd, data) => {
        if (fd === failedFd) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return nodeFs.writeSync(fd, data);
      },
    };
    const json = join(runDir, 'checkpoints', 'last-000000002-2.json');
    assert.throws(() => saveCheckpoint(runDir, 'last', content(run, 2), { fs: fullDisk }),
      checkpointError(json, /cannot write \(ENOSPC: no space left on device, write\); the previous checkpoint, if any, is unchanged/));
    assert.equal(findLatestCheckpoint(runDir), first);
    assert.ok(!readdirSync(join(runDir, 'checkpoints')).some((file) => file.includes('.tmp-')));
  });

  it('a run dir that is a file (ENOTDIR, a real failure even as root)', () => {
    const runDir = join(temp, 'a-file');
    writeFileSync(runDir, 'not a directory');
    assert.throws(() => saveCheckpoint(runDir, 'last', content(run, 1)),
      checkpointError(join(runDir, 'checkpoints'), /cannot create the checkpoint directory \(ENOTDIR/));
  });
});
