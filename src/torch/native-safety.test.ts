// Native safety sweep (issue 12): every public op fed wrong dtypes, mismatched shapes, out-of-range integers,
// empty, disposed and forged tensors and non-tensor values (src/fuzz/native-sweep.ts). The sweep runs in a
// child process, so that an abort is a failure naming the case that started it, not a dead test runner.
// Below it, one regression test per crash or untyped error the sweep found and the fix that closed it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as torch from './index.js';
import { native } from './native.js';
import { ContrasegError, ConfigError, EngineError } from '../errors.js';
import { publicOpNames, sweepOps } from '../fuzz/native-sweep.js';
import { withinImageContrastiveLoss, contrastiveLossFloor } from '../losses/index.js';

const { zeros, randn, tensor } = torch;
const SWEEP = fileURLToPath(new URL('../fuzz/native-sweep.ts', import.meta.url));

/** Not ops: scopes, thread and RNG settings, file wrappers of the swept encoders, constants and classes. */
const NOT_OPS = new Set(['scope', 'keep', 'noGrad', 'liveTensorCount', 'setNumThreads', 'getNumThreads', 'manualSeed', 'getRngState',
  'pair', 'saveSafetensors', 'loadSafetensors', 'ones', 'scalar', 'randn', 'rand', 'Tensor.constructor', 'Tensor.dropGrad']);

describe('native safety sweep', () => {
  it('covers every public op of src/torch and src/losses (or lists why not)', () => {
    const swept = new Set(sweepOps().map((op) => op.name));
    const missing = publicOpNames().filter((name) => !swept.has(name) && !NOT_OPS.has(name) &&
      !['optim', 'DEFAULT_IGNORE_INDEX', 'PAPER_TEMPERATURE'].includes(name));
    assert.deepEqual(missing, [], `ops without sweep cases: ${missing.join(', ')}`);
  });

  it('every case returns or throws a ContrasegError naming the op and the argument shapes; no handle leaks; the process survives', () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', SWEEP], {
      encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000, env: { ...process.env, CONTRASEG_NUM_THREADS: '1' },
    });
    const lines = child.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    const started = lines.filter((line) => 'start' in line);
    const problems = lines.filter((line) => typeof line.problem === 'string').map((line) => `${String(line.end)}: ${String(line.problem)}`);
    const last = started[started.length - 1]?.start;
    assert.ok(lines.some((line) => line.done === true),
      `the sweep process died (${child.signal ?? `exit ${child.status}`}) during case "${String(last)}": ${child.stderr.slice(-2000)}`);
    assert.ok(started.length > 4000, `only ${started.length} cases ran`);
    assert.deepEqual(problems, []);
  });
});

const rejects = (call: () => unknown, type: new (...args: never[]) => ContrasegError, message: RegExp): void => {
  const before = torch.liveTensorCount();
  torch.scope(() => assert.throws(call, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  }));
  assert.equal(torch.liveTensorCount(), before, 'the failed call left handles behind');
};

describe('sweep regressions: native entry points', () => {
  it('a libtorch error names the entry point and every argument\'s dtype and shape', () => {
    rejects(() => torch.matmul(randn([2, 3]), randn([4, 5])), EngineError,
      /^matmul: mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\) \(arguments: float32\[2, 3\], float32\[4, 5\]\)$/);
    rejects(() => torch.conv2d(zeros([1, 4, 8, 8]), zeros([2, 3, 3, 3])), EngineError,
      /^conv2d: .*\(arguments: float32\[1, 4, 8, 8\], float32\[2, 3, 3, 3\], null, \[1, 1\], \[0, 0\], \[1, 1\], 1\)$/);
  });

  it('a shape whose element count passes 2^63 is refused before the multiplication overflows (it wrapped to 0 before)', () => {
    rejects(() => tensor(new Float32Array(0), [2 ** 32, 2 ** 32]), EngineError, /^fromTypedArray: tensor\(\): shape holds more than 2\^63 elements but data has 0/);
  });

  it('adding NaN, Infinity or 2^70 to an integer tensor is an error, not an undefined cast', () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, 2 ** 70]) {
      rejects(() => native.addInPlace(zeros([2], 'int64').handle, value), EngineError, /^addInPlace: an integral tensor takes a finite number within \+-2\^63/);
    }
    torch.scope(() => {
      const counter = zeros([1], 'int64');
      native.addInPlace(counter.handle, 2.7); // truncated, as before
      assert.deepEqual(counter.toArray(), [2]);
    });
  });

  it('empty typed arrays of every dtype make empty tensors (UBSan: memcpy of null pointers, found by the sanitizer run)', () => {
    torch.scope(() => {
      for (const data of [new Float32Array(0), new Float64Array(0), new Int32Array(0), new BigInt64Array(0), new Uint8Array(0)]) {
        const empty = tensor(data, [0, 3]);
        assert.deepEqual(empty.shape, [0, 3]);
        assert.equal(empty.toTypedArray().length, 0);
      }
      assert.throws(() => torch.setRngState(new Uint8Array(0)), EngineError);
    });
  });

  it('an absurd thread count is refused (OpenMP would abort at the next parallel op)', () => {
    rejects(() => native.setNumThreads(1e6), EngineError, /^setNumThreads: expected between 1 and 1024 threads, got 1000000/);
  });
});

describe('sweep regressions: TypeScript guards', () => {
  it('a non-tensor argument is an EngineError naming the op and the argument, not a TypeError from reading .handle', () => {
    rejects(() => torch.conv2d(null as never, zeros([1, 1, 1, 1])), EngineError, /^conv2d: expected a Tensor for input, got null$/);
    rejects(() => torch.add('x' as never, 1), EngineError, /^add: expected a Tensor for a, got the string "x"$/);
    rejects(() => zeros([2]).add({} as never), EngineError, /^add: expected a Tensor for other, got a plain object$/);
    rejects(() => torch.cat([zeros([1]), 5 as never]), EngineError, /^cat: expected a Tensor for tensors\[1\], got the number 5$/);
  });

  it('a disposed or forged tensor fails as the op that read it, not as `shape`', () => {
    const gone = zeros([1, 1, 2, 2]);
    gone.dispose();
    const forged = new torch.Tensor({} as never); // outside any scope: a scope would dispose it
    rejects(() => torch.interpolate(gone, [4, 4]), EngineError, /^interpolate: input was already disposed/);
    rejects(() => torch.crossEntropy(zeros([1, 3]), forged), EngineError, /^crossEntropy: target is not a contraseg tensor/);
  });

  it('a null options object is a ConfigError naming the call', () => {
    rejects(() => torch.conv2d(zeros([1, 1, 3, 3]), zeros([1, 1, 1, 1]), null, null as never), ConfigError, /^conv2d\(input, weight, bias, options\)/);
    rejects(() => torch.batchNorm(zeros([2, 3, 2, 2]), null as never), ConfigError, /^batchNorm\(input, options\)/);
    rejects(() => new torch.optim.SGD([randn([2])], null as never), ConfigError, /^SGD: the options argument must be an object/);
    rejects(() => withinImageContrastiveLoss(randn([1, 2, 2, 2]), zeros([1, 2, 2], 'int64'), randn([1, 2, 2, 2]), zeros([1, 2, 2], 'int64'), null as never),
      ConfigError, /^withinImageContrastiveLoss: options must be an object/);
  });

  it('optimisers, gradient clipping, safetensors and the loss floor check their arguments', () => {
    rejects(() => new torch.optim.AdamW(5 as never), ConfigError, /^AdamW: expected a list of parameters or of parameter groups/);
    const gone = randn([2]);
    gone.dispose();
    rejects(() => new torch.optim.AdamW([gone]), EngineError, /^AdamW: parameter 0 was already disposed/);
    rejects(() => torch.gradNorm(null as never), EngineError, /^gradNorm: expected an array of parameter tensors, got null/);
    rejects(() => torch.clipGradNorm([], -1), ConfigError, /^clipGradNorm: maxNorm/);
    rejects(() => torch.encodeSafetensors(null as never), ContrasegError, /^encodeSafetensors: expected a Map/);
    rejects(() => torch.decodeSafetensors(7 as never), ContrasegError, /^decodeSafetensors: expected the file's bytes/);
    rejects(() => contrastiveLossFloor(null as never, zeros([1, 2, 2], 'int64'), zeros([1, 2, 2], 'int64')), ConfigError,
      /^contrastiveLossFloor: kind must be/);
  });
});
