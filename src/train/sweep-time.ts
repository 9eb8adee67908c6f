/**
 * The time a sweep cell takes on a machine that runs only it, from its metrics.jsonl. A cell's process
 * wall clock is no measure of that: a long sweep is paused (SIGSTOP while a benchmark runs) and stopped
 * and resumed across sittings, so one cell may show hours for minutes of work, and a resumed cell
 * counts only its last process. The logged step times are per process and per `logEvery` steps, so
 * the median interval is a pause-proof step time; evaluations are timed per image the same way.
 */
import type { MetricsRecord } from './run-dir.js';

/** Seconds of stage 1, stage 2 (evaluations during it included) and the whole cell. */
export interface CellSeconds {
  readonly pretrain: number;
  readonly finetune: number;
  readonly total: number;
}

/**
 * steps x the median seconds per step between consecutive logged steps of one process, per stage, plus
 * the images evaluated (`imagesBySplit`: the split's size, as the cell's summary counts it) x the median
 * seconds per image of the evaluations. Intervals that cross a resume
 * (the step or the process clock going back) are not intervals and are left out.
 */
export function cellSeconds(metrics: readonly MetricsRecord[], steps: { readonly pretrain: number; readonly finetune: number },
  imagesBySplit: Readonly<Record<string, number>>): CellSeconds {
  const pretrain = steps.pretrain * medianStepSeconds(metrics, 'pretrain');
  const evaluations = evaluationSeconds(metrics, imagesBySplit);
  const finetune = steps.finetune * medianStepSeconds(metrics, 'finetune') + evaluations;
  return { pretrain, finetune, total: pretrain + finetune };
}

function medianStepSeconds(metrics: readonly MetricsRecord[], stage: string): number {
  const rates: number[] = [];
  let previous: { step: number; seconds: number } | undefined;
  for (const record of metrics) {
    if (record.kind !== 'step' || record.stage !== stage || typeof record.seconds !== 'number') continue;
    const current = { step: record.step, seconds: record.seconds };
    if (previous !== undefined && current.step > previous.step && current.seconds > previous.seconds) {
      rates.push((current.seconds - previous.seconds) / (current.step - previous.step));
    }
    previous = current;
  }
  return median(rates);
}

function evaluationSeconds(metrics: readonly MetricsRecord[], imagesBySplit: Readonly<Record<string, number>>): number {
  const perImage: number[] = [];
  let images = 0;
  for (const record of metrics) {
    const count = typeof record.split === 'string' ? imagesBySplit[record.split] : undefined;
    if (record.kind !== 'eval' || typeof record.seconds !== 'number' || count === undefined || count <= 0) continue;
    perImage.push(record.seconds / count);
    images += count;
  }
  return images * median(perImage);
}

/**
 * The median of the machine's 1-minute load average over the logged steps (`load`, see run.ts), or null
 * when the log has none (runs written before it was logged).
 */
export function medianLoad(metrics: readonly MetricsRecord[]): number | null {
  const loads = metrics.flatMap((record) => (record.kind === 'step' && typeof record.load === 'number' ? [record.load] : []));
  return loads.length === 0 ? null : median(loads);
}

/** The median; 0 for no values. */
function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
