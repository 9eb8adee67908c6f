// The addon in two Node environments at once (main thread + a worker thread): each keeps its own error
// class and handle count, so errors raised in one are EngineErrors of that environment, before, while
// and after the other runs. Also: an external that is not a contraseg tensor handle is rejected.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { EngineError } from '../errors.js';
import { native } from './native.js';
import { tensor } from './creation.js';
import { liveTensorCount, scope } from './scope.js';

const ITEM_MESSAGE = 'item(): tensor has 3 elements, expected 1 (arguments: float32[3])';

/** Raises a native error through the addon and checks it is an EngineError of this environment. */
function raiseAndCatch(): void {
  scope(() => {
    assert.throws(() => tensor([1, 2, 3]).item(), (error: unknown) => {
      assert.ok(error instanceof EngineError, `expected this environment's EngineError, got ${String(error)}`);
      assert.equal(error.message, ITEM_MESSAGE);
      return true;
    });
  });
}

// The worker loads contraseg itself (its own module instances, its own EngineError), tells the main
// thread it is ready, then raises errors until told to stop, counting them in shared memory.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  (await import(workerData.tsx)).register();  // Node 20 ignores --import tsx in a worker's execArgv
  const { EngineError } = await import(workerData.errors);
  const { tensor } = await import(workerData.creation);
  const { scope, liveTensorCount } = await import(workerData.scope);
  const counters = new Int32Array(workerData.shared);
  const failures = [];
  const before = liveTensorCount();
  parentPort.postMessage('ready');
  while (Atomics.load(counters, 0) === 0) Atomics.wait(counters, 0, 0, 1000);
  while (Atomics.load(counters, 0) === 1) {
    try {
      scope(() => tensor([1, 2, 3]).item());
      failures.push('no error raised');
    } catch (error) {
      if (!(error instanceof EngineError)) failures.push('not the worker EngineError: ' + String(error));
      else if (error.message !== ${JSON.stringify(ITEM_MESSAGE)}) failures.push('message: ' + error.message);
    }
    Atomics.add(counters, 1, 1);
  }
  parentPort.postMessage({ failures: failures.slice(0, 5), leaked: liveTensorCount() - before });
})().catch((error) => parentPort.postMessage({ failures: ['worker crashed: ' + String(error && error.stack)] }));
`;

interface WorkerReport { failures: string[]; leaked?: number }

function moduleUrl(relative: string): string {
  return new URL(relative, import.meta.url).href;
}

describe('the addon in a worker thread and the main thread at once', () => {
  it('each environment raises and catches its own EngineError, during and after the other', async () => {
    const shared = new SharedArrayBuffer(8);
    const counters = new Int32Array(shared);  // [0]: 0 wait, 1 run, 2 stop; [1]: errors the worker raised
    const worker = new Worker(workerSource, {
      eval: true,
      execArgv: [],
      workerData: {
        shared, tsx: import.meta.resolve('tsx/esm/api'), errors: moduleUrl('../errors.ts'), creation: moduleUrl('./creation.ts'), scope: moduleUrl('./scope.ts'),
      },
    });
    const messages: unknown[] = [];
    const report = new Promise<WorkerReport>((resolve, reject) => {
      worker.on('message', (message: unknown) => {
        messages.push(message);
        if (message !== 'ready') resolve(message as WorkerReport);
      });
      worker.on('error', reject);
      worker.on('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
    });
    await new Promise<void>((resolve) => worker.once('message', () => resolve()));
    assert.deepEqual(messages, ['ready'], 'the worker should have loaded contraseg');
    // The worker's addon instance is initialised: errors here must still be the main thread's EngineError.
    raiseAndCatch();
    const before = liveTensorCount();
    Atomics.store(counters, 0, 1);
    Atomics.notify(counters, 0);
    let mainErrors = 0;
    const deadline = Date.now() + 20_000;
    // Run until both sides have raised many errors while the other was running too.
    while ((Atomics.load(counters, 1) < 200 || mainErrors < 200) && Date.now() < deadline) {
      raiseAndCatch();
      mainErrors++;
    }
    Atomics.store(counters, 0, 2);
    const result = await report;
    assert.deepEqual(result.failures, [], 'worker-side errors');
    assert.equal(result.leaked, 0, 'the worker leaked handles');
    assert.ok(Atomics.load(counters, 1) >= 200 && mainErrors >= 200,
      `both sides should have raised at least 200 errors concurrently (worker ${Atomics.load(counters, 1)}, main ${mainErrors})`);
    assert.equal(liveTensorCount(), before, 'the main thread counts its own handles only');
    await worker.terminate();
    // The worker's environment is gone, with its error class: the main thread's must be untouched.
    raiseAndCatch();
  });
});

describe('a foreign external is not taken for a tensor handle', () => {
  it('every unwrap rejects it with an EngineError naming the argument', () => {
    const foreign = native.foreignExternalForTesting();
    for (const [what, call] of [
      ['tensor', () => native.shape(foreign)],
      ['dispose', () => native.dispose(foreign)],
      ['isLive', () => native.isLive(foreign)],
      ['right operand', () => scope(() => native.add(tensor([1]).handle, foreign))],
    ] as const) {
      assert.throws(call, (error: unknown) => {
        assert.ok(error instanceof EngineError, `${what}: expected EngineError, got ${String(error)}`);
        assert.match(error.message, new RegExp(`passed as ${what} is an external of another addon, not a contraseg tensor handle`));
        return true;
      });
    }
  });
  it('a plain object is an EngineError naming the entry point', () => {
    assert.throws(() => native.shape({} as never), (error: unknown) => error instanceof EngineError &&
      /^shape: expected a tensor handle for tensor \(arguments: object\)$/.test(error.message));
  });
});
