/**
 * The optimisation loop shared by both stages (and the baseline): iteration-based, so any label
 * budget fills its batches; exact to resume, because the loader is a pure function of (seed, epoch,
 * index), the torch RNG state travels in the checkpoint, and nothing else draws random numbers.
 */
import type { Batch, Loader, LoaderPosition } from '../data/loader.js';
import type { Optimizer, Schedule } from '../torch/optim/index.js';
import type { Tensor } from '../torch/tensor.js';
import { scope } from '../torch/scope.js';
import { clipGradNorm } from '../torch/clip-grad.js';
import { InterruptedError, NumericalError } from '../errors.js';

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
  /** Write a checkpoint after `step` completed steps (every `checkpointEvery` steps and at the end). */
  readonly checkpointEvery: number;
  saveCheckpoint(step: number, position: LoaderPosition): void;
  /** Evaluate on val after `step` steps (every `evaluateEvery` steps, 0 = never, and at the end when set). */
  readonly evaluateEvery: number;
  evaluate?(step: number): Promise<void>;
  /** Called after every step. */
  onStep(record: StepRecord): void;
  /** Checked after every step: when aborted, the loop writes a checkpoint and throws InterruptedError. */
  readonly signal?: AbortSignal;
}

/** The loader position of the batch that step `step` (0-based) consumes. */
export function positionOfStep(step: number, batchesPerEpoch: number): LoaderPosition {
  return { epoch: Math.floor(step / batchesPerEpoch), batch: step % batchesPerEpoch };
}

/**
 * Runs steps startStep .. steps-1 of a stage. Each step: lr from the schedule, zero grads, forward,
 * backward, optional clipping, optimiser step, all inside a scope (no intermediate survives).
 * @throws NumericalError when the loss is not finite (the last checkpoint is left as it was);
 * InterruptedError after the checkpoint of the step during which `signal` was aborted.
 */
export async function runStage<B extends Batch>(spec: StageSpec<B>): Promise<void> {
  if (spec.startStep >= spec.steps) return;
  const params = spec.optimizer.params;
  const started = performance.now();
  let last = started;
  let step = spec.startStep;
  const stream = spec.loader.stream(positionOfStep(step, spec.loader.batchesPerEpoch));
  for await (const batch of stream) {
    const lr = spec.schedule(step);
    spec.optimizer.lr = lr;
    let result: { loss: number; gradNorm?: number };
    try {
      result = scope(() => {
        const loss = spec.lossOf(batch);
        const value = loss.item();
        if (!Number.isFinite(value)) {
          throw new NumericalError(`${spec.stage}: the loss is ${value} at step ${step + 1}; the last checkpoint was kept. ` +
            'Lower the learning rate, add warm-up steps or set gradClip.');
        }
        spec.optimizer.zeroGrad();
        loss.backward();
        const gradNorm = spec.gradClip === null ? undefined : clipGradNorm(params, spec.gradClip);
        if (gradNorm !== undefined && !Number.isFinite(gradNorm)) {
          throw new NumericalError(`${spec.stage}: the gradient norm is ${gradNorm} at step ${step + 1}; the last checkpoint was kept.`);
        }
        spec.optimizer.step();
        return gradNorm === undefined ? { loss: value } : { loss: value, gradNorm };
      });
    } finally {
      batch.dispose();
    }
    step += 1;
    const now = performance.now();
    spec.onStep({
      stage: spec.stage, step, steps: spec.steps, lr, ...result,
      imagesPerSecond: batch.ids.length / Math.max(1e-9, (now - last) / 1000), seconds: (now - started) / 1000,
    });
    last = now;
    const checkpointDue = step % spec.checkpointEvery === 0 || step === spec.steps;
    if (checkpointDue || spec.signal?.aborted === true) spec.saveCheckpoint(step, positionOfStep(step, spec.loader.batchesPerEpoch));
    if (spec.signal?.aborted === true) {
      const reason: unknown = spec.signal.reason;
      throw new InterruptedError(`${spec.stage} stopped after step ${step} of ${spec.steps}; its checkpoint is saved. Continue with --resume.`,
        typeof reason === 'string' && reason.startsWith('SIG') ? (reason as NodeJS.Signals) : undefined);
    }
    if (spec.evaluate !== undefined && ((spec.evaluateEvery > 0 && step % spec.evaluateEvery === 0) || step === spec.steps)) {
      await spec.evaluate(step);
      last = performance.now();
    }
    if (step >= spec.steps) break;
  }
}
