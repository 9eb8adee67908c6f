/** `contraseg sweep`, the runner (loads the engine; main imports it only when the command runs). */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openDataset, type DatasetSource } from '../data/open-dataset.js';
import { miouByBudgetSvg, renderReport, resultsCsv, resultsMarkdown } from '../report/index.js';
import type { SweepResults } from '../report/results.js';
import { parseRunConfig } from '../train/config.js';
import { embeddingMaps, predictionGrid } from '../train/sweep-extras.js';
import { gatherResults, trainSweep, type SweepJob } from '../train/sweep-run.js';
import { cellDone, type CellPlan } from '../train/sweep.js';
import { writeFileAtomic } from '../train/run-dir.js';
import type { CliIO } from './args.js';
import type { SweepOptions } from './sweep.js';

/** The cells the pictures come from: seed 0 at the smallest budget. */
function pictureCells(cells: readonly CellPlan[]): CellPlan[] {
  const done = cells.filter((cell) => cell.seed === 0 && cellDone(cell));
  const smallest = done.reduce<number | 'all' | undefined>((min, cell) => (min === undefined || (cell.labelled !== 'all' && (min === 'all' || cell.labelled < min)) ? cell.labelled : min), undefined);
  return done.filter((cell) => cell.labelled === smallest);
}

async function write(options: SweepOptions, results: SweepResults): Promise<void> {
  mkdirSync(options.out, { recursive: true });
  writeFileAtomic(join(options.out, 'results.json'), `${JSON.stringify(results, null, 1)}\n`);
  writeFileAtomic(join(options.out, 'results.csv'), resultsCsv(results));
  writeFileAtomic(join(options.out, 'report.html'), await renderReport(results));
  // the headline chart alone, for the README and other pages that cannot embed the report
  writeFileAtomic(join(options.out, 'miou.svg'), await miouByBudgetSvg(results));
  writeFileAtomic(join(options.out, 'results.md'), resultsMarkdown(results));
}

/** Runs `contraseg sweep`: trains what is missing, then writes the results (after every budget, and with pictures at the end). */
export async function runSweep(options: SweepOptions, io: CliIO): Promise<void> {
  const log = (text: string): void => io.stderr(`${text}\n`);
  const job: SweepJob = {
    sweep: options.sweep, out: options.work, jobs: options.jobs, command: options.command, log,
    ...(io.signal === undefined ? {} : { signal: io.signal }),
    afterBudget: async (cells, ceChoice) => write(options, await gatherResults(job, cells, ceChoice)),
  };
  const { cells, ceChoice } = await trainSweep(job);
  const results = await gatherResults(job, cells, ceChoice);
  const base = parseRunConfig(options.sweep.base, 'sweep base');
  if (base.data.testSplit !== null) {
    log('rendering the prediction grid and the embedding maps');
    const test = await openDataset({ kind: base.data.kind, root: base.data.root, split: base.data.testSplit } as DatasetSource);
    const pictures = pictureCells(cells);
    const predictions = await predictionGrid(pictures, test, options.sweep.gridImages, test.colours);
    const ce = pictures.find((cell) => cell.method === 'ce');
    const contrastive = pictures.find((cell) => cell.method !== 'ce');
    const embeddings = options.sweep.embeddingPixels > 0 ? await embeddingMaps(ce, contrastive, test, options.sweep.embeddingPixels) : [];
    await write(options, { ...results, predictions, embeddings });
  } else {
    await write(options, results);
  }
  io.stdout(`${results.cells.length} cells; results in ${join(options.out, 'results.json')}, report in ${join(options.out, 'report.html')}\n`);
}
