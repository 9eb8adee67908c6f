/**
 * What a user watches during a run: a progress bar per stage on a terminal (step, loss, lr, images/s,
 * ETA), plain lines when the output is not a terminal (CI logs, pipes, tests). Written to stderr so
 * that stdout carries only results.
 */
import cliProgress from 'cli-progress';
import type { StageName, StepRecord } from '../train/loop.js';
import type { RunEvents } from '../train/run.js';
import type { CliIO } from './args.js';

/** Builds the run events that draw progress for `label` (e.g. "within" or "baseline ce"). */
export function progressEvents(io: CliIO, label: string, options: { tty: boolean; every: number }): RunEvents {
  let bar: cliProgress.SingleBar | undefined;
  let firstStep = 0; // a resumed stage's clock starts at its resume step, not at 0
  const stop = (): void => {
    bar?.stop();
    bar = undefined;
  };
  const line = (text: string): void => io.stderr(`${text}\n`);
  return {
    onStageStart(stage: StageName, steps: number, startStep: number) {
      firstStep = startStep;
      const resumed = startStep > 0 ? ` (resumed at step ${startStep})` : '';
      if (!options.tty) {
        line(`[${label}] ${stage}: ${steps} steps${resumed}`);
        return;
      }
      bar = new cliProgress.SingleBar({
        format: `[${label}] ${stage} {bar} {value}/{total} | loss {loss} | lr {lr} | {ips} img/s | ETA {eta_formatted}`,
        stream: process.stderr, hideCursor: true, etaBuffer: 20,
      }, cliProgress.Presets.shades_classic);
      bar.start(steps, startStep, { loss: '-', lr: '-', ips: '-' });
    },
    onStep(record: StepRecord) {
      const values = { loss: record.loss.toFixed(4), lr: record.lr.toExponential(2), ips: record.imagesPerSecond.toFixed(1) };
      if (bar !== undefined) {
        bar.update(record.step, values);
        return;
      }
      if (record.step % options.every === 0 || record.step === record.steps) {
        const eta = etaSeconds(record, firstStep);
        line(`[${label}] ${record.stage} ${record.step}/${record.steps} loss ${values.loss} lr ${values.lr} ${values.ips} img/s ETA ${Math.round(eta)} s`);
      }
    },
    onStageEnd: stop,
    onEvalStart(split: string, images: number) {
      if (bar !== undefined) return; // a val pass inside a stage: the bar stays; its time shows in the ETA
      line(`[${label}] evaluating ${images} ${split} images at native resolution`);
    },
    onMessage: line,
  };
}

/** Seconds left in a stage: the time per step so far (counted from the step the stage started or resumed at) times the steps left. */
export function etaSeconds(record: Pick<StepRecord, 'step' | 'steps' | 'seconds'>, firstStep: number): number {
  const done = record.step - firstStep;
  return done > 0 ? (record.seconds / done) * (record.steps - record.step) : 0;
}
