/**
 * Trains the named cells of a sweep, in the order given, exactly as `contraseg sweep` plans them (planCell) and runs
 * them (trainCells: --jobs children, a finished cell skipped, a killed one resumed). For spreading one study's cells
 * over sittings or machines whose --work directories do not carry over: `contraseg sweep` itself always trains every
 * cell of its plan, seed 0 first. Only for sweeps whose ce grid has at most one value (nothing to choose on val).
 * Used for the K = 20 confirmation cells of docs/results/NOTES.md (session 13).
 *   node --import tsx scripts/dev/train-cells.ts --cells ce-K20-s4-T3200,within-K20-s4-T3200 <contraseg sweep options>
 */
import { planCell, seedsFor, trainCells, type CellPlan } from '../../src/train/sweep.js';
import { parseSweepArgs } from '../../src/cli/sweep.js';

const argv = process.argv.slice(2);
const at = argv.indexOf('--cells');
if (at < 0 || argv[at + 1] === undefined) {
  console.error('usage: train-cells.ts --cells <id>,<id>... <contraseg sweep options>');
  process.exit(2);
}
const ids = (argv[at + 1] as string).split(',').filter((id) => id !== '');
const options = parseSweepArgs([...argv.slice(0, at), ...argv.slice(at + 2)]);
if (options.sweep.ceStepsGrid.length > 1) throw new Error('this sweep chooses the ce steps on val from a grid: run contraseg sweep');

const cells: CellPlan[] = ids.map((id) => {
  const match = /^(\w+)-K(\d+|all)-s(\d+)-T(\d+)$/.exec(id);
  if (match === null) throw new Error(`not a cell id: ${id} (method-K<k>-s<seed>-T<steps>)`);
  const [, method, k, seed, total] = match as unknown as [string, CellPlan['method'], string, string, string];
  const labelled = k === 'all' ? 'all' : Number(k);
  const planned = options.sweep.methods.includes(method) && options.sweep.budgets.includes(labelled) && seedsFor(options.sweep, labelled).includes(Number(seed));
  if (!planned) throw new Error(`${id}: not a cell of this sweep`);
  const cell = planCell(options.sweep, options.work, method, labelled, Number(seed), Number(total));
  if (cell.id !== id) throw new Error(`${id}: this sweep plans it as ${cell.id}`);
  return cell;
});
const stamp = (): string => new Date().toISOString().slice(11, 19);
await trainCells(cells, options.jobs, (text) => console.error(`${stamp()} ${text}`));
