/**
 * Per-seed figures of a sweep and each method's gain over ce paired by seed, from its results.json: the
 * mean difference, its sample std, its standard error (std / sqrt(n)), its 95% t-interval and the ratio of the two methods'
 * standard deviations across seeds. Val only unless --test is given, so that choices read from it are
 * made on val (docs/results/NOTES.md). With the gain, the Pitman-Morgan test of equal scatter across the seeds
 * (t on n - 2 degrees of freedom; compare with Student's two-sided critical value) and, with --classes, each
 * class's IoU gain paired by seed and the seeds where the method is ahead. With --baseline-from other.json[:method],
 * the baseline is that sweep's method (ce by default), e.g. ce at another step count; this sweep's own ce cells are
 * then compared as 'ce, this run'.
 *   node --import tsx scripts/dev/paired-seeds.ts [--test] [--classes] [--baseline-from <other.json>[:method]] <results.json>
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BASELINE_METHOD, cellsOf, gainsOverBaseline, meanAndStd, sortedBudgets } from '../../src/report/aggregate.js';
import { describeGain, pairedClassGains, pitmanMorgan, withBaselineFrom } from '../../src/report/paired-stats.js';
import { parseSweepResults } from '../../src/report/results-schema.js';
import { percent as pct, signedPercent as signed } from '../../src/report/summary.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { test: { type: 'boolean', default: false }, classes: { type: 'boolean', default: false }, 'baseline-from': { type: 'string' } } });
if (positionals.length !== 1) {
  console.error('usage: paired-seeds.ts [--test] [--classes] [--baseline-from <other.json>[:method]] <results.json>');
  process.exit(2);
}
const file = positionals[0] as string;
const read = (path: string) => parseSweepResults(JSON.parse(readFileSync(path, 'utf8')), path);
const borrowFrom = values['baseline-from'];
const [otherFile, otherMethod = BASELINE_METHOD] = borrowFrom === undefined ? [] : borrowFrom.split(/:(?=[^:/]*$)/);
const results = otherFile === undefined ? read(file) : withBaselineFrom(read(file), read(otherFile), otherMethod, BASELINE_METHOD);
const splits = values.test === true ? (['val', 'test'] as const) : (['val'] as const);

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
      const { n } = gain.gain!;
      const own = meanAndStd(cellsOf(results, gain.method, labelled).flatMap((cell) => (cell[split] === null ? [] : [cell[split].mIoU])));
      const ratio = own?.std && baseline?.std ? (baseline.std / own.std).toFixed(2) : '-';
      console.log(`  ${gain.method} - ${BASELINE_METHOD}, paired over ${n} seeds: ${describeGain(gain.gain!)}`
        + `; sd(${BASELINE_METHOD}) / sd(${gain.method}) = ${ratio}`);
      const bySeed = (method: string): Map<number, number> => new Map(cellsOf(results, method, labelled).flatMap((cell) => (cell[split] === null ? [] : [[cell.seed, cell[split].mIoU] as const])));
      const ownBySeed = bySeed(gain.method);
      const baselineBySeed = bySeed(BASELINE_METHOD);
      const pm = pitmanMorgan(gain.seeds.map((seed) => ownBySeed.get(seed) as number), gain.seeds.map((seed) => baselineBySeed.get(seed) as number));
      console.log(`    equal scatter, Pitman-Morgan: ${pm === null ? 'undefined (fewer than 3 seeds or degenerate)' : `r ${pm.r.toFixed(2)}, t ${pm.t.toFixed(2)} on ${pm.df} df (negative: ${gain.method} scatters less)`}`);
      if (values.classes !== true) continue;
      for (const entry of pairedClassGains(results, gain.method, BASELINE_METHOD, labelled, split, results.dataset.classNames.length)) {
        const name = (results.dataset.classNames[entry.classId] ?? String(entry.classId)).padEnd(12);
        if (entry.gain === null) { console.log(`    ${name} no seed has it`); continue; }
        const sd = entry.gain.std === null ? '-' : pct(entry.gain.std);
        console.log(`    ${name} ${signed(entry.gain.mean)} +- ${sd}, ahead on ${entry.ahead} of ${entry.gain.n} seeds`);
      }
    }
  }
}
