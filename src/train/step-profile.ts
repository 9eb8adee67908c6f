/**
 * Opt-in profile of the training loop's phases, for finding pipeline cost on a shared machine:
 * with CONTRASEG_STEP_PROFILE=<file>, runStage appends to <file> one JSON line per completed stage with,
 * per phase (waiting for the batch and wrapping it in tensors, the step itself: forward, backward and
 * update, freeing the batch, the step callback: metrics line and progress, checkpoint, evaluation), the
 * main thread's CPU time, runqueue time and wall time, summed over the stage's steps. From Linux's
 * /proc/thread-self/schedstat: nanoseconds on a CPU, and nanoseconds runnable but waiting for one (other
 * processes' load); what is left of the wall time is time the thread slept, e.g. waiting for the loader.
 * CPU and sleep hardly move when the machine is loaded; wall time does. Off by default, and then nothing
 * is read or measured.
 */
import { appendFileSync, readFileSync } from 'node:fs';

/** The phases of one step, in order. */
export type StepPhase = 'wait' | 'step' | 'free' | 'onStep' | 'checkpoint' | 'evaluate';

/** What a stage's profile line holds per phase. */
export interface PhaseTotals {
  /** Main-thread CPU milliseconds (null where /proc/thread-self/schedstat cannot be read). */
  cpuMs: number | null;
  /** Milliseconds the main thread was runnable but not running (the machine's other load), or null. */
  runqueueMs: number | null;
  wallMs: number;
  /** Times the phase was entered. */
  count: number;
}

/** Steps whose wait for the batch slept longer than this (ms, wall minus CPU minus runqueue) count as stalls: the loader was late. */
const STALL_MS = 1;

/** Nanoseconds the calling thread has run on a CPU and waited on a runqueue, or null off Linux. */
function threadTimes(): { cpu: number; runqueue: number } | null {
  try {
    const [cpu, runqueue] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number);
    return cpu === undefined || runqueue === undefined || !Number.isFinite(cpu) || !Number.isFinite(runqueue) ? null : { cpu, runqueue };
  } catch {
    return null;
  }
}

/** Phase totals of one stage; mark(phase) closes the phase that ran since the previous mark. */
export class StepProfile {
  private readonly phases = new Map<StepPhase, PhaseTotals>();
  private lastTimes = threadTimes();
  private lastWall = performance.now();
  private stalls = 0;

  constructor(private readonly file: string, private readonly stage: string) {}

  /** Ends `phase`: the time since the previous mark (or the start) is added to it. */
  mark(phase: StepPhase): void {
    const times = threadTimes();
    const wall = performance.now();
    const totals = this.phases.get(phase) ?? { cpuMs: 0, runqueueMs: 0, wallMs: 0, count: 0 };
    const last = this.lastTimes;
    const cpuMs = times === null || last === null ? null : (times.cpu - last.cpu) / 1e6;
    const runqueueMs = times === null || last === null ? null : (times.runqueue - last.runqueue) / 1e6;
    totals.cpuMs = cpuMs === null || totals.cpuMs === null ? null : totals.cpuMs + cpuMs;
    totals.runqueueMs = runqueueMs === null || totals.runqueueMs === null ? null : totals.runqueueMs + runqueueMs;
    totals.wallMs += wall - this.lastWall;
    totals.count += 1;
    const slept = wall - this.lastWall - (cpuMs ?? 0) - (runqueueMs ?? 0);
    if (phase === 'wait' && slept > STALL_MS) this.stalls += 1;
    this.phases.set(phase, totals);
    this.lastTimes = times;
    this.lastWall = wall;
  }

  /** Appends the stage's line: { kind: 'step-profile', stage, steps, stalls, phases: { wait: { cpuMs, wallMs, count }, ... } }. */
  finish(steps: number): void {
    const phases = Object.fromEntries([...this.phases].map(([phase, totals]) => [phase, totals]));
    appendFileSync(this.file, `${JSON.stringify({ kind: 'step-profile', stage: this.stage, steps, stalls: this.stalls, stallMs: STALL_MS, phases })}\n`);
  }
}

/** A profile for `stage` when CONTRASEG_STEP_PROFILE names a file, else undefined (no cost). */
export function stepProfile(stage: string): StepProfile | undefined {
  const file = process.env.CONTRASEG_STEP_PROFILE;
  return file === undefined || file === '' ? undefined : new StepProfile(file, stage);
}
