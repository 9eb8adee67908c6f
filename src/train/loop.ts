/**
 * The optimisation loop shared by both stages (and the baseline): iteration-based, so any label
 * budget fills its batches; exact to resume, because the loader is a pure function of (seed, epoch,
 * index), the torch RNG state travels in the checkpoint, and nothing else draws random numbers.
 */
import type { Batch, Loader, LoaderPosition } from '../data/loader.js';
import type { Optimizer, Schedule } from '../torch/optim/index.js';
import type { Tensor } from '../torch/tensor.js';
import { keep, noGrad, scope } from '../torch/scope.js';
import { clipGradNorm } from '../torch/clip-grad.js';
import { native } from '../torch/native.js';
import { CheckpointError, InterruptedError, NumericalError } from '../errors.js';
import type { NanPolicy } from './config.js';
import { stepProfile } from './step-profile.js';

/** The two stages of the method; the cross-entropy baseline is a fine-tuning stage from scratch. */
export type StageName = 'pretrain' | 'finetune';

/** One completed optimisation step, as reported to the progress display and the metrics log. */
export interface StepRecord {
  readonly stage: StageName;
  /** Steps completed so far in this stage (1-based after the first step). */
  readonly step: number;
  readonly steps: number;
  readonly loss: number;
  readonly lr: number;
  /** Gradient norm before clipping (only when clipping is on). */
  readonly gradNorm?: number;
  /** Training images per second over the last step (loader wait included). */
  readonly imagesPerSecond: number;
  /** Seconds since the stage (or its resumed part) started. */
  readonly seconds: number;
  /** True when this step's update was skipped for a non-finite loss or gradient (nanPolicy 'skip'). */
  readonly skipped?: true;
  /** Steps skipped so far in this stage (or its resumed part), when any was. */
  readonly skippedSteps?: number;
}

/** What a NaN/Inf loss or gradient does (RunConfig.nanPolicy and maxNanSkips). */
export interface NanGuard {
  readonly policy: NanPolicy;
  /** Consecutive skipped steps that stop the run (policy 'skip'). */
  readonly maxSkips: number;
  /**
   * Module state a forward pass changes besides the parameters (BatchNorm running statistics): saved
   * before each step and put back when the step is skipped. Borrowed.
   */
  readonly buffers: readonly Tensor[];
}

/** What one stage needs to run. Every callback is synchronous except evaluate. */
export interface StageSpec<B extends Batch> {
  readonly stage: StageName;
  /** Total steps of the stage. */
  readonly steps: number;
  /** Steps already done (a resumed checkpoint's step); 0 for a fresh stage. */
  readonly startStep: number;
  readonly loader: Loader<B>;
  readonly optimizer: Optimizer;
  readonly schedule: Schedule;
  readonly gradClip: number | null;
  /** The stage's forward pass: a scalar loss tensor (freed by the loop). */
  lossOf(batch: B): Tensor;
  /**
   * Write a checkpoint after `step` completed steps (every `checkpointEvery` steps and at the end). The loop
   * awaits what it returns: a background writer resolves once the state is copied, before it is durable.
   */
  readonly checkpointEvery: number;
  saveCheckpoint(step: number, position: LoaderPosition): void | Promise<unknown>;
  /**
   * Waits until every checkpoint saved so far is durable, throwing a failed write's CheckpointError. The
   * loop calls it before it returns or throws (the end of the stage, a stop on `signal`, any error).
   */
  flushCheckpoints?(): Promise<void>;
  /** Evaluate on val after `step` steps (every `evaluateEvery` steps, 0 = never, and at the end when set). */
  readonly evaluateEvery: number;
  evaluate?(step: number): Promise<void>;
  /** Called after every step. */
  onStep(record: StepRecord): void;
  /** Checked after every step: when aborted, the loop writes a checkpoint and throws InterruptedError. */
  readonly signal?: AbortSignal;
  /** Default: stop at the first non-finite loss or gradient. */
  readonly nanGuard?: NanGuard;
  /** Called after backward, before clipping and the update: data-parallel training averages the gradients here. */
  afterBackward?(): void;
}

/** The loader position of the batch that step `step` (0-based) consumes. */
export function positionOfStep(step: number, batchesPerEpoch: number): LoaderPosition {
  return { epoch: Math.floor(step / batchesPerEpoch), batch: step % batchesPerEpoch };
}

/** What became of the checkpoints when a stage stops on a NaN (lastSaved = step of its last checkpoint, 0 = none). */
function keptCheckpoint(lastSaved: number): string {
  return lastSaved > 0 ? `the last good checkpoint (step ${lastSaved}) was kept` : 'no checkpoint of this stage was written yet';
}

/** One step's result: its loss and, with clipping, the gradient norm; `skipped` when its update was dropped. */
interface StepOutcome {
  loss: number;
  gradNorm?: number;
  skipped?: true;
}

/**
 * Whether every entry of `tensors` is finite: their sums are exactly when they are (NaN and Inf propagate;
 * only a finite tensor summing past 3e38 would read as Inf, a divergence anyway).
 */
function allFinite(tensors: readonly Tensor[]): boolean {
  return noGrad(() => scope(() => {
    let total = 0;
    for (const tensor of tensors) total += tensor.sum().item();
    return Number.isFinite(total);
  }));
}

/**
 * One optimisation step: forward, finiteness check of the loss, backward, clipping, finiteness check of
 * the gradients, update. A non-finite loss or gradient throws NumericalError (policy 'stop') or returns
 * skipped with nothing updated (policy 'skip'; the caller restores the buffers).
 */
function attemptStep<B extends Batch>(spec: StageSpec<B>, batch: B, step: number, lastSaved: number): StepOutcome {
  const policy = spec.nanGuard?.policy ?? 'stop';
  const params = spec.optimizer.params;
  const nonFinite = (what: string): never => {
    throw new NumericalError(`${spec.stage}: ${what} at step ${step + 1}; ${keptCheckpoint(lastSaved)}. ` +
      'Lower the learning rate, add warm-up steps or set gradClip; or --nan-policy skip to drop such steps.');
  };
  return scope((): StepOutcome => {
    const loss = spec.lossOf(batch);
    const value = loss.item();
    if (!Number.isFinite(value)) return policy === 'skip' ? { loss: value, skipped: true } : nonFinite(`the loss is ${value}`);
    spec.optimizer.zeroGrad();
    loss.backward();
    spec.afterBackward?.();
    const gradNorm = spec.gradClip === null ? undefined : clipGradNorm(params, spec.gradClip);
    // 'stop' without clipping checks no gradient here (a pass over them every step): a NaN update shows as a NaN
    // loss at the next step, or in the weights check before a checkpoint (runStage), so no bad checkpoint is kept.
    const gradientsFinite = gradNorm !== undefined ? Number.isFinite(gradNorm)
      : policy !== 'skip' || allFinite(params.flatMap((param) => (param.grad === null ? [] : [param.grad])));
    if (!gradientsFinite) {
      if (policy === 'skip') {
        spec.optimizer.zeroGrad();
        return { loss: value, skipped: true };
      }
      return nonFinite(gradNorm === undefined ? 'a gradient is not finite' : `the gradient norm is ${gradNorm}`);
    }
    spec.optimizer.step();
    return gradNorm === undefined ? { loss: value } : { loss: value, gradNorm };
  });
}

/** Whether a stop was requested (a function: the signal changes between the checks of one step). */
function isAborted<B extends Batch>(spec: StageSpec<B>): boolean {
  return spec.signal?.aborted === true;
}

/** The InterruptedError of a stop requested through spec.signal after `step` steps (its checkpoint saved). */
function interrupted<B extends Batch>(spec: StageSpec<B>, step: number): InterruptedError {
  const reason: unknown = spec.signal?.reason;
  return new InterruptedError(`${spec.stage} stopped after step ${step} of ${spec.steps}; its checkpoint is saved. Continue with --resume.`,
    typeof reason === 'string' && reason.startsWith('SIG') ? (reason as NodeJS.Signals) : undefined);
}

/** Copies of the guard's buffers when steps may be skipped (policy 'skip'), else none. The caller disposes them. */
function snapshotBuffers(guard: NanGuard | undefined): Tensor[] {
  if (guard?.policy !== 'skip') return [];
  return guard.buffers.map((buffer) => keep(buffer.clone()));
}

function restoreBuffers(guard: NanGuard, saved: readonly Tensor[]): void {
  noGrad(() => guard.buffers.forEach((buffer, i) => native.copyInto(buffer.handle, (saved[i] as Tensor).handle)));
}

/**
 * Runs steps startStep .. steps-1 of a stage. Each step: lr from the schedule, zero grads, forward,
 * backward, optional clipping, optimiser step, all inside a scope (no intermediate survives).
 * A step with a non-finite loss stops the run (nanGuard policy 'stop', the default) or is skipped (policy
 * 'skip', which also checks every step's gradients: no parameter, optimiser-state or buffer change; the step
 * still counts). The weights are checked before every checkpoint, so none holds a NaN/Inf.
 * Whatever ends the stage, it returns or throws only once spec.flushCheckpoints has made its checkpoints durable.
 * @throws NumericalError for a non-finite loss, gradient norm (with clipping) or weight before a checkpoint
 * (the last checkpoint is left as it was), or after nanGuard.maxSkips consecutive skipped steps;
 * InterruptedError after the checkpoint of the step during which `signal` was aborted is durable;
 * CheckpointError of a failed checkpoint write (the previous checkpoint is the latest), then naming
 * what else stopped the stage, if anything did.
 */
export async function runStage<B extends Batch>(spec: StageSpec<B>): Promise<void> {
  let stopped: { error: unknown } | undefined;
  try {
    await runSteps(spec);
  } catch (error) {
    stopped = { error };
  }
  try {
    await spec.flushCheckpoints?.();
  } catch (writeError) {
    throw stopped === undefined ? writeError : withStop(writeError, stopped.error);
  }
  if (stopped !== undefined) throw stopped.error;
}

/**
 * A failed checkpoint write found while the stage was stopping for another reason: the write's error is
 * the one to act on (the checkpoint the other error may promise is not there), with the other reason added.
 */
function withStop(writeError: unknown, other: unknown): unknown {
  if (!(writeError instanceof CheckpointError) || writeError === other) return writeError;
  const prefix = writeError.file === undefined ? '' : `${writeError.file}: `;
  const message = writeError.message.startsWith(prefix) ? writeError.message.slice(prefix.length) : writeError.message;
  const reason = other instanceof Error ? other.message : String(other);
  return new CheckpointError(`${message}. The stage had stopped before that: ${reason}`, writeError.file);
}

async function runSteps<B extends Batch>(spec: StageSpec<B>): Promise<void> {
  if (spec.startStep >= spec.steps) return;
  const guard = spec.nanGuard;
  const started = performance.now();
  let last = started;
  let step = spec.startStep;
  let lastSaved = spec.startStep;
  let skippedSteps = 0;
  let skippedInARow = 0;
  const stream = spec.loader.stream(positionOfStep(step, spec.loader.batchesPerEpoch));
  const profile = stepProfile(spec.stage); // CONTRASEG_STEP_PROFILE only
  for await (const batch of stream) {
    if (isAborted(spec)) { // arrived while the loop waited for this batch: no step in progress
      batch.dispose();
      if (lastSaved !== step || step === 0) await spec.saveCheckpoint(step, positionOfStep(step, spec.loader.batchesPerEpoch));
      throw interrupted(spec, step);
    }
    profile?.mark('wait');
    const lr = spec.schedule(step);
    spec.optimizer.lr = lr;
    let result: StepOutcome;
    const saved = snapshotBuffers(guard);
    try {
      result = attemptStep(spec, batch, step, lastSaved);
      if (result.skipped === true && guard !== undefined) restoreBuffers(guard, saved);
      profile?.mark('step');
    } finally {
      batch.dispose();
      for (const buffer of saved) buffer.dispose();
    }
    profile?.mark('free');
    skippedInARow = result.skipped === true ? skippedInARow + 1 : 0;
    if (result.skipped === true) skippedSteps += 1;
    step += 1;
    const now = performance.now();
    spec.onStep({
      stage: spec.stage, step, steps: spec.steps, lr, ...result, ...(skippedSteps > 0 ? { skippedSteps } : {}),
      imagesPerSecond: batch.ids.length / Math.max(1e-9, (now - last) / 1000), seconds: (now - started) / 1000,
    });
    last = now;
    profile?.mark('onStep');
    if (guard !== undefined && skippedInARow >= guard.maxSkips) {
      throw new NumericalError(`${spec.stage}: ${skippedInARow} steps in a row (up to step ${step}) had a non-finite loss or gradient and ` +
        `were skipped (maxNanSkips = ${guard.maxSkips}); ${keptCheckpoint(lastSaved)}. Lower the learning rate, add warm-up steps or set gradClip.`);
    }
    // Prefetched batches let this loop go on without the event loop turning, and two things wait for it
    // to turn: a signal handler (SIGINT/SIGTERM must stop after the step during which they arrived), and the
    // Node-API finalizers that free the native side of each garbage-collected tensor wrapper (Node queues
    // them after a GC and runs them from the event loop). Without this turn those piled up between the
    // loop's waits for the loader: malloc's bytes in use rose ~25 kB per step, to ~20 MB, before they ran
    // (measured 2026-12-03, pretraining with sync checkpoint writes; flat with this turn). It costs microseconds.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const checkpointDue = step % spec.checkpointEvery === 0 || step === spec.steps;
    if (checkpointDue || isAborted(spec)) {
      if (!allFinite(spec.optimizer.params)) {
        throw new NumericalError(`${spec.stage}: a weight is not finite after step ${step} (a NaN/Inf gradient since step ${lastSaved}); ` +
          `${keptCheckpoint(lastSaved)}, none was written for step ${step}. Lower the learning rate, add warm-up steps or set gradClip.`);
      }
      await spec.saveCheckpoint(step, positionOfStep(step, spec.loader.batchesPerEpoch));
      lastSaved = step;
      profile?.mark('checkpoint');
    }
    if (isAborted(spec)) throw interrupted(spec, step);
    if (spec.evaluate !== undefined && ((spec.evaluateEvery > 0 && step % spec.evaluateEvery === 0) || step === spec.steps)) {
      await spec.evaluate(step);
      last = performance.now();
      profile?.mark('evaluate');
    }
    if (step >= spec.steps) {
      profile?.finish(step - spec.startStep);
      break;
    }
  }
}
