/** Orders a sweep's cells (budget by budget, the ce grid first), trains them, and gathers results.json. */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { RESULTS_VERSION, type SweepCell, type SweepResults } from '../report/results.js';
import { openDataset, type DatasetSource } from '../data/open-dataset.js';
import type { SweepConfig } from './sweep-config.js';
import { cellDone, planCell, readCell, seedsFor, trainCells, type CellPlan } from './sweep.js';
import { parseRunConfig, type RunConfig } from './config.js';

/** What runSweep needs. */
export interface SweepJob {
  readonly sweep: SweepConfig;
  readonly out: string;
  readonly jobs: number;
  readonly command: string;
  readonly log: (text: string) => void;
  readonly signal?: AbortSignal;
  /** Called with every cell planned so far after each budget's cells finish (to write partial results). */
  readonly afterBudget?: (cells: readonly CellPlan[], ceChoice: Record<string, number>) => Promise<void>;
}

/** The ce grid value with the best val mIoU at seed 0 (ties: fewer steps). */
function chooseCeSteps(grid: readonly CellPlan[]): CellPlan {
  let best: { cell: CellPlan; miou: number } | undefined;
  for (const cell of grid) {
    const miou = readCell(cell).val?.mIoU ?? Number.NEGATIVE_INFINITY;
    if (best === undefined || miou > best.miou) best = { cell, miou };
  }
  return (best as { cell: CellPlan }).cell;
}

/** The ce step counts trainSweep chooses from: the sweep's grid, or none when ce is not among its methods. */
export function ceGridOf(sweep: SweepConfig): readonly number[] {
  return sweep.methods.includes('ce') ? sweep.ceStepsGrid : [];
}

/**
 * The cells of one budget in training order: seed by seed, every method of a seed before the next seed, so that a
 * sweep stopped half way (the study spans sittings) leaves whole seeds, which the report's gains over ce pair.
 */
export function budgetCells(sweep: SweepConfig, out: string, labelled: number | 'all', ceSteps?: number): CellPlan[] {
  return seedsFor(sweep, labelled).flatMap((seed) => sweep.methods.map((method) => planCell(sweep, out, method, labelled, seed, ceSteps)));
}

/** Every cell of the sweep in training order, training as it goes (the ce choice needs its grid's val results). */
export async function trainSweep(job: SweepJob): Promise<{ cells: CellPlan[]; ceChoice: Record<string, number> }> {
  const { sweep, out } = job;
  const chosen: CellPlan[] = [];
  const ceChoice: Record<string, number> = {};
  for (const labelled of sweep.budgets) {
    let ceSteps: number | undefined;
    const ceGrid = ceGridOf(sweep);
    if (ceGrid.length === 1) {
      // Nothing to choose: the grid's one cell is the seed-0 ce cell, trained with the others (so --jobs is used at once).
      ceSteps = ceGrid[0] as number;
      ceChoice[String(labelled)] = ceSteps;
    } else if (ceGrid.length > 1) {
      const grid = ceGrid.map((steps) => planCell(sweep, out, 'ce', labelled, 0, steps));
      await trainCells(grid, job.jobs, job.log, job.signal);
      const best = chooseCeSteps(grid);
      ceSteps = best.totalSteps;
      ceChoice[String(labelled)] = ceSteps;
      job.log(`K=${labelled}: ce total steps ${ceSteps} chosen on val from [${sweep.ceStepsGrid.join(', ')}]`);
    }
    const cells = budgetCells(sweep, out, labelled, ceSteps);
    await trainCells(cells, job.jobs, job.log, job.signal);
    chosen.push(...cells);
    await job.afterBudget?.(chosen, ceChoice);
  }
  return { cells: chosen, ceChoice };
}

function machine(threads: number, jobs: number): string {
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${model}, ${cpus().length} cores, ${jobs} cell${jobs === 1 ? '' : 's'} at a time, ${threads} libtorch thread${threads === 1 ? '' : 's'} each`;
}

/** results.json from the finished cells (extras — prediction grid, embedding maps — added by the caller). */
export async function gatherResults(job: SweepJob, cells: readonly CellPlan[], ceChoice: Record<string, number>): Promise<SweepResults> {
  const finished: SweepCell[] = cells.filter(cellDone).map(readCell);
  const base = parseRunConfig(job.sweep.base, 'sweep base');
  const open = (split: string | null) => (split === null ? null : openDataset({ kind: base.data.kind, root: base.data.root, split } as DatasetSource));
  const [train, val, test] = await Promise.all([open(base.data.trainSplit), open(base.data.valSplit), open(base.data.testSplit)]);
  const { data, model, pretrain, finetune, batchSize } = base;
  return {
    version: RESULTS_VERSION, command: job.command, createdAt: new Date().toISOString(),
    dataset: {
      name: train?.name ?? base.data.kind, classNames: [...(train?.classNames ?? [])], colours: [...(train?.colours ?? [])],
      trainImages: train?.length ?? 0, valImages: val?.length ?? 0, testImages: test?.length ?? 0,
    },
    protocol: job.sweep.protocol,
    settings: sharedSettings(job, base, ceChoice),
    methods: job.sweep.methods, budgets: job.sweep.budgets.map((k) => (k === 'all' ? train?.length ?? 0 : k)),
    cells: finished, predictions: [], embeddings: [],
    machine: machine(Math.max(1, Math.floor(cpus().length / job.jobs)), job.jobs), cores: cpus().length,
  };
}

/** Where a cell's total steps came from, as trainSweep decides it. */
function describeTotal(sweep: SweepConfig): string {
  const grid = ceGridOf(sweep);
  if (grid.length > 1) return 'the total chosen for its K (ceStepsChosen, picked on val from ceStepsGrid by ce)';
  if (grid.length === 1) return `the same ${String(grid[0])} steps at every K (ceStepsGrid has one value: nothing was chosen)`;
  return 'the base config\'s pretrain + finetune steps at every K (no ce grid)';
}

/** What every cell shares; the steps (and the stage-1 loss: the method's) vary per cell, so they are described, not listed. */
function sharedSettings(job: SweepJob, base: RunConfig, ceChoice: Record<string, number>): Record<string, unknown> {
  const { data, model, pretrain, finetune, batchSize } = base;
  const { steps: _pretrainSteps, loss: _loss, ...pretrainShared } = pretrain;
  const { steps: _finetuneSteps, ...finetuneShared } = finetune;
  const share = job.sweep.pretrainShare ?? pretrain.steps / Math.max(1, pretrain.steps + finetune.steps);
  return {
    stepsPerCell: `every method trains ${describeTotal(job.sweep)}; a contrastive cell ` +
      `spends ${share} of it in stage 1 with its method's loss, the rest in fine-tuning`,
    ceStepsChosen: ceChoice, ceStepsGrid: job.sweep.ceStepsGrid,
    data: { ...data, labelled: undefined }, model, pretrain: pretrainShared, finetune: finetuneShared, batchSize,
  };
}

/** Reads a results.json written before (to keep extras when nothing changed). */
export function readResults(file: string): SweepResults {
  return JSON.parse(readFileSync(file, 'utf8')) as SweepResults;
}
