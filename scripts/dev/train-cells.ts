/**
 * Trains the named cells of a sweep, in the order given, exactly as `contraseg sweep` plans them (budgetCells) and runs
 * them (trainCells: --jobs children, a finished cell skipped, a killed one resumed). For spreading one study's cells
 * over sittings or machines whose --work directories do not carry over: `contraseg sweep` itself always trains every
 * cell of its plan, seed 0 first. Only for sweeps whose ce grid has at most one value (nothing to choose on val).
 * Used for the K = 20 confirmation cells of docs/results/NOTES.md (session 13).
 *   node --import tsx scripts/dev/train-cells.ts --cells ce-K20-s4-T3200,within-K20-s4-T3200 <contraseg sweep options>
 */
import { trainCells } from '../../src/train/sweep.js';
import { budgetCells, ceGridOf } from '../../src/train/sweep-run.js';
import { parseSweepArgs } from '../../src/cli/sweep.js';

const argv = process.argv.slice(2);
const at = argv.indexOf('--cells');
if (at < 0 || argv[at + 1] === undefined) {
  console.error('usage: train-cells.ts --cells <id>,<id>... <contraseg sweep options>');
  process.exit(2);
}
const ids = (argv[at + 1] as string).split(',').filter((id) => id !== '');
const { sweep, work, jobs } = parseSweepArgs([...argv.slice(0, at), ...argv.slice(at + 2)]);
const grid = ceGridOf(sweep);
if (grid.length > 1) throw new Error('this sweep chooses the ce steps on val from a grid: run contraseg sweep');
// The sweep's own plan, in which each named cell is looked up.
const planned = sweep.budgets.flatMap((labelled) => budgetCells(sweep, work, labelled, grid[0]));
const cells = ids.map((id) => {
  const cell = planned.find((candidate) => candidate.id === id);
  if (cell === undefined) throw new Error(`${id}: not a cell of this sweep (its cells: ${planned.map((c) => c.id).join(', ')})`);
  return cell;
});
const stamp = (): string => new Date().toISOString().slice(11, 19);
await trainCells(cells, jobs, (text) => console.error(`${stamp()} ${text}`));
