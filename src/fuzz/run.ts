/**
 * The file fuzzer's driver: runs seeded cases of the targets (src/fuzz/targets.ts) in a forked child,
 * one at a time, each under a time limit and a resident-memory limit. The allowed outcomes are success
 * and a typed error (ContrasegError); a crash (signal or exit), a hang, a memory blow-up, an untyped
 * error and a leaked tensor handle are findings, each reproducible from (seed, target, case index):
 * `npm run fuzz -- --seed S --targets T --from I --cases 1`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CaseRequest, CaseResult } from './child.js';
import { TARGETS } from './targets.js';

/** Options of runFuzz. */
export interface FuzzOptions {
  /** Total cases, spread over the targets by their weights (src/fuzz/targets.ts). */
  readonly cases: number;
  readonly seed: number;
  /** Target names (default: every non-internal target). */
  readonly targets?: readonly string[];
  /** Case index of the first case of each target (to replay a finding). */
  readonly from?: number;
  /** A case running longer than this is a hang (default 10 s: sharp and libtorch share 2 busy cores). */
  readonly timeoutMs?: number;
  /** A child whose resident memory passes this is a memory blow-up (default 1.5 GiB). */
  readonly memoryLimitBytes?: number;
  /** Where the inputs of findings are copied (default: not kept). */
  readonly findingsDir?: string;
  /** Called after every case. */
  readonly onCase?: (result: CaseOutcome, done: number) => void;
  /** Extra environment for the child (e.g. CONTRASEG_NATIVE and LD_PRELOAD for the sanitizer build). */
  readonly env?: NodeJS.ProcessEnv;
}

/** A case's outcome as the driver saw it: the child's result, or a crash/hang/memory verdict. */
export interface CaseOutcome {
  readonly target: string;
  readonly index: number;
  readonly outcome: CaseResult['outcome'] | 'crash' | 'hang' | 'memory';
  readonly mutation: string;
  readonly error?: string;
}

/** Per-target counts. */
export interface TargetCounts {
  cases: number;
  ok: number;
  typed: number;
  findings: number;
}

/** What a run did and found. */
export interface FuzzReport {
  readonly seed: number;
  readonly cases: number;
  readonly seconds: number;
  readonly byTarget: Record<string, TargetCounts>;
  /** Mutation kinds tried, with counts. */
  readonly mutations: Record<string, number>;
  readonly findings: CaseOutcome[];
  /** Children started (1 + one per crash, hang or blow-up). */
  readonly children: number;
  /**
   * Resident memory of the longest-lived child: after its first 50 cases, after half of its cases and
   * after its last. Allocator warm-up (glibc arenas of libvips' threads) shows as growth in the first
   * half; a leak keeps growing in the second.
   */
  readonly rssWarmBytes: number;
  readonly rssHalfBytes: number;
  readonly rssEndBytes: number;
  readonly rssMaxBytes: number;
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

function residentBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

/** A forked child that runs cases; replaced by a new one whenever it dies or is killed. */
class CaseRunner {
  private child: ChildProcess | undefined;
  private stderr = '';
  started = 0;
  casesInChild = 0;
  rssWarm = 0;
  rssLast = 0;
  rssMax = 0;
  /** RSS after every 50th case of the current child: [after 50, after 100, ...]. */
  private rssSamples: number[] = [];
  longest = { cases: 0, warm: 0, half: 0, end: 0 };

  constructor(private readonly scratch: string, private readonly env: NodeJS.ProcessEnv) {}

  private async start(): Promise<ChildProcess> {
    const child = fork(CHILD, [this.scratch], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=1024'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // One intra-op thread: cases are tiny, and 2 cores are shared with everyone else.
      env: { ...process.env, CONTRASEG_NUM_THREADS: '1', ...this.env },
    });
    this.stderr = '';
    child.stderr?.on('data', (data: Buffer) => { this.stderr = (this.stderr + data.toString()).slice(-4000); });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code, signal) => reject(new Error(`fuzz child died while starting (${signal ?? code}): ${this.stderr}`)));
    });
    child.removeAllListeners('exit');
    this.started += 1;
    this.casesInChild = 0;
    this.rssSamples = [];
    this.child = child;
    return child;
  }

  private retire(): void {
    if (this.casesInChild < this.longest.cases) return;
    // The sample nearest half of the child's cases (index i holds the RSS after 50 (i + 1) cases).
    const half = this.rssSamples[Math.round(this.casesInChild / 100) - 1] ?? this.rssWarm;
    this.longest = { cases: this.casesInChild, warm: this.rssWarm, half, end: this.rssLast };
  }

  async run(request: CaseRequest, timeoutMs: number, memoryLimit: number): Promise<CaseOutcome> {
    const child = this.child ?? await this.start();
    const pid = child.pid as number;
    return new Promise<CaseOutcome>((resolve) => {
      const verdict = (outcome: CaseOutcome['outcome'], error: string): void => {
        cleanup();
        child.kill('SIGKILL');
        this.retire();
        this.child = undefined;
        resolve({ target: request.target, index: request.index, outcome, mutation: '?', error });
      };
      const timer = setTimeout(() => verdict('hang', `no answer within ${timeoutMs} ms`), timeoutMs);
      const poll = setInterval(() => {
        const rss = residentBytes(pid);
        if (rss > memoryLimit) verdict('memory', `resident memory ${(rss / 2 ** 20).toFixed(0)} MiB passed the limit of ${(memoryLimit / 2 ** 20).toFixed(0)} MiB`);
      }, 25);
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        verdict('crash', `child exited (${signal ?? `code ${code}`}): ${this.stderr.trim().split('\n').slice(-6).join(' | ')}`);
      };
      const onMessage = (result: CaseResult): void => {
        cleanup();
        this.casesInChild += 1;
        this.rssLast = result.rss;
        this.rssMax = Math.max(this.rssMax, result.rss);
        if (this.casesInChild === 50) this.rssWarm = result.rss;
        if (this.casesInChild % 50 === 0) this.rssSamples.push(result.rss);
        resolve(result);
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        child.off('exit', onExit);
        child.off('message', onMessage);
      };
      child.once('exit', onExit);
      child.once('message', onMessage);
      child.send(request);
    });
  }

  stop(): void {
    this.retire();
    this.child?.disconnect();
    this.child = undefined;
  }
}

function keepFinding(findingsDir: string | undefined, scratch: string, outcome: CaseOutcome, seed: number): void {
  if (findingsDir === undefined) return;
  const name = `${outcome.target}-seed${seed}-case${outcome.index}-${outcome.outcome}`;
  mkdirSync(findingsDir, { recursive: true });
  cpSync(join(scratch, 'case'), join(findingsDir, name), { recursive: true, force: true });
}

/** Runs the cases and reports every finding. Resolves once all cases ran; never throws for a finding. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const targets = options.targets ?? TARGETS.filter((target) => target.internal !== true).map((target) => target.name);
  // A RAM file system when there is one: every case writes its input file, and a disk shared with
  // others' fsyncs made that the slowest part of a case.
  const scratch = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'contraseg-fuzz-'));
  const runner = new CaseRunner(scratch, options.env ?? {});
  const byTarget: Record<string, TargetCounts> = Object.fromEntries(targets.map((name) => [name, { cases: 0, ok: 0, typed: 0, findings: 0 }]));
  const mutations: Record<string, number> = {};
  const findings: CaseOutcome[] = [];
  // One round of the schedule holds each target `weight` times, interleaved.
  const weights = targets.map((name) => TARGETS.find((target) => target.name === name)?.weight ?? 3);
  const round: string[] = [];
  for (let slot = 0; slot < Math.max(...weights); slot++) targets.forEach((name, t) => { if (slot < (weights[t] as number)) round.push(name); });
  const next = new Map(targets.map((name) => [name, options.from ?? 0]));
  const start = performance.now();
  try {
    for (let i = 0; i < options.cases; i++) {
      const target = round[i % round.length] as string;
      const index = next.get(target) as number;
      next.set(target, index + 1);
      const request: CaseRequest = { seed: options.seed, target, index };
      const outcome = await runner.run(request, options.timeoutMs ?? 10_000, options.memoryLimitBytes ?? 1.5 * 2 ** 30);
      const counts = byTarget[target] as TargetCounts;
      counts.cases += 1;
      const family = outcome.mutation.split('+')[0] as string;
      mutations[family] = (mutations[family] ?? 0) + 1;
      if (outcome.outcome === 'ok') counts.ok += 1;
      else if (outcome.outcome === 'typed') counts.typed += 1;
      else {
        counts.findings += 1;
        findings.push(outcome);
        keepFinding(options.findingsDir, scratch, outcome, options.seed);
      }
      options.onCase?.(outcome, i + 1);
    }
  } finally {
    runner.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  return {
    seed: options.seed, cases: options.cases, seconds: (performance.now() - start) / 1000, byTarget, mutations, findings,
    children: runner.started, rssWarmBytes: runner.longest.warm, rssHalfBytes: runner.longest.half, rssEndBytes: runner.longest.end, rssMaxBytes: runner.rssMax,
  };
}
