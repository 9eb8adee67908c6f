/**
 * The fuzzer's disposable process (forked by src/fuzz/run.ts): runs one case per message and answers
 * with its outcome. A native abort, a hang or a memory blow-up kills only this process; the parent sees
 * which case did it and starts a new one.
 *
 * Message in: { seed, target, index }. Message out: CaseResult.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, deriveSeed } from '../augment/rng.js';
import { ContrasegError } from '../errors.js';
import { liveTensorCount } from '../torch/scope.js';
import { TARGETS, targetNamed } from './targets.js';

/** One case to run. */
export interface CaseRequest {
  readonly seed: number;
  readonly target: string;
  readonly index: number;
}

/** How a case ended inside the child. 'untyped' and 'leak' are findings; 'ok' and 'typed' are allowed. */
export interface CaseResult {
  readonly target: string;
  readonly index: number;
  readonly outcome: 'ok' | 'typed' | 'untyped' | 'leak';
  readonly mutation: string;
  /** Error class and message, for typed and untyped errors. */
  readonly error?: string;
  readonly rss: number;
  readonly milliseconds: number;
}

/** The case's Rng: a pure function of (seed, target, index), so a case is reproduced from those three. */
export function caseRng(request: CaseRequest): Rng {
  const targetNumber = TARGETS.findIndex((target) => target.name === request.target);
  return new Rng(deriveSeed(request.seed, targetNumber, request.index));
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return `non-Error thrown: ${String(error)}`;
  const stack = (error.stack ?? '').split('\n').slice(1, 4).map((line) => line.trim()).join(' | ');
  return `${error.constructor.name}: ${error.message.slice(0, 500)}${error instanceof ContrasegError ? '' : ` [${stack}]`}`;
}

/** Runs one case in `scratch/case` (each target overwrites or clears its own files there). Never throws. */
export async function runCase(request: CaseRequest, scratch: string): Promise<CaseResult> {
  const target = targetNamed(request.target);
  const dir = join(scratch, 'case');
  mkdirSync(dir, { recursive: true });
  const mutant = await target.prepare(dir, caseRng(request));
  const before = liveTensorCount();
  const start = performance.now();
  let outcome: CaseResult['outcome'] = 'ok';
  let error: string | undefined;
  try {
    await target.run(dir);
  } catch (caught) {
    outcome = caught instanceof ContrasegError ? 'typed' : 'untyped';
    error = describeError(caught);
  }
  const milliseconds = performance.now() - start;
  const leaked = liveTensorCount() - before;
  if (outcome !== 'untyped' && leaked !== 0) {
    error = `${leaked} tensor handle(s) left live after the case${error === undefined ? '' : ` (which threw ${error})`}`;
    outcome = 'leak';
  }
  return { target: request.target, index: request.index, outcome, mutation: mutant.kind, error, rss: process.memoryUsage.rss(), milliseconds };
}

const scratch = process.argv[2];
if (process.send !== undefined && scratch !== undefined) {
  const send = process.send.bind(process);
  // One case at a time: the parent sends the next request only after this answer.
  process.on('message', (request: CaseRequest) => {
    runCase(request, scratch).then((result) => send(result), (error: unknown) => {
      // prepare() itself failed: a harness bug, reported as untyped so that it is seen.
      send({ target: request.target, index: request.index, outcome: 'untyped', mutation: 'prepare', error: `harness: ${describeError(error)}`,
        rss: process.memoryUsage.rss(), milliseconds: 0 } satisfies CaseResult);
    });
  });
  process.on('disconnect', () => process.exit(0));
  send({ ready: true });
}
