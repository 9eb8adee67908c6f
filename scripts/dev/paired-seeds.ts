/**
 * Per-seed figures of a sweep and each method's gain over ce paired by seed, from its results.json: the
 * mean difference, its sample std, its standard error (std / sqrt(n)) and the ratio of the two methods'
 * standard deviations across seeds. Val only unless --test is given, so that choices read from it are
 * made on val (docs/results/NOTES.md).
 *   node --import tsx scripts/dev/paired-seeds.ts [--test] <results.json>
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BASELINE_METHOD, cellsOf, gainsOverBaseline, meanAndStd, sortedBudgets } from '../../src/report/aggregate.js';
import { parseSweepResults } from '../../src/report/results-schema.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { test: { type: 'boolean', default: false } } });
if (positionals.length !== 1) {
  console.error('usage: paired-seeds.ts [--test] <results.json>');
  process.exit(2);
}
const file = positionals[0] as string;
const results = parseSweepResults(JSON.parse(readFileSync(file, 'utf8')), file);
const splits = values.test === true ? (['val', 'test'] as const) : (['val'] as const);
const pct = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : (100 * value).toFixed(1));

for (const split of splits) {
  for (const labelled of sortedBudgets(results)) {
    console.log(`\n${split}, K = ${labelled}`);
    for (const method of results.methods) {
      const cells = cellsOf(results, method, labelled);
      const stats = meanAndStd(cells.flatMap((cell) => (cell[split] === null ? [] : [cell[split].mIoU])));
      console.log(`  ${method.padEnd(8)} ${cells.map((cell) => `s${cell.seed} ${pct(cell[split]?.mIoU)}`).join(', ')}`
        + `  mean ${pct(stats?.mean)} +- ${pct(stats?.std)} (n ${stats?.n ?? 0})`);
    }
    const baseline = meanAndStd(cellsOf(results, BASELINE_METHOD, labelled).flatMap((cell) => (cell[split] === null ? [] : [cell[split].mIoU])));
    for (const gain of gainsOverBaseline(results, BASELINE_METHOD, split).filter((entry) => entry.labelled === labelled && entry.gain !== null)) {
      const { mean, std, n } = gain.gain!;
      const own = meanAndStd(cellsOf(results, gain.method, labelled).flatMap((cell) => (cell[split] === null ? [] : [cell[split].mIoU])));
      const ratio = own?.std && baseline?.std ? (baseline.std / own.std).toFixed(2) : '-';
      console.log(`  ${gain.method} - ${BASELINE_METHOD}, paired over ${n} seeds: ${mean >= 0 ? '+' : ''}${pct(mean)} +- ${pct(std)}, `
        + `standard error ${std === null ? '-' : pct(std / Math.sqrt(n))}; sd(${BASELINE_METHOD}) / sd(${gain.method}) = ${ratio}`);
    }
  }
}
