/**
 * The sweep's charts as self-contained SVG (vega-lite, rendered headless): test mIoU against the
 * labelled budget K per method with +-1 std error bars over seeds (as in the paper's figures), the
 * paired gain over the cross-entropy baseline, the training curves of the seed-0 cells at the smallest
 * K, and the 2-D embedding maps coloured by ground-truth class. mIoU is drawn in percent.
 */
import type { TopLevelSpec } from 'vega-lite';
import { BASELINE_METHOD, gainsOverBaseline, sortedBudgets, summariseBudgets } from './aggregate.js';
import type { EmbeddingMap, SweepCell, SweepResults } from './results.js';
import { renderVegaLiteSvg } from './vega-svg.js';

const WIDTH = 440;
const HEIGHT = 260;
const MAP_SIZE = 320;
/** Horizontal spread of the methods around each budget in the mIoU chart, in budget slots (so error bars do not overlap). */
const DODGE = 0.22;
/** Above this many points a curve is a bare line: markers would hide it. */
const MAX_MARKED_POINTS = 60;
const TABLEAU10 = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

/** A vega-lite unit or layer spec inside a concat (vega-lite exports only TopLevelSpec as a stable type). */
type Panel = Extract<TopLevelSpec, { vconcat: unknown }>['vconcat'][number];

/** One colour per method, fixed by the method's position in results.methods, so every chart agrees. */
function methodColour(methods: readonly string[]): { domain: string[]; range: string[] } {
  return { domain: [...methods], range: methods.map((_method, i) => TABLEAU10[i % TABLEAU10.length] as string) };
}

/** "52.3 ± 1.2" (percent of a fraction), or "52.3" without a spread. */
function describe(mean: number, std: number | null): string {
  return std === null ? (mean * 100).toFixed(1) : `${(mean * 100).toFixed(1)} ± ${(std * 100).toFixed(1)}`;
}

function percent(fraction: number): number {
  return Math.round(fraction * 1e6) / 1e4;
}

/** An x axis of budget slots 0..B-1 labelled with the budgets (even spacing, like the paper's log-spaced K). */
function budgetAxis(budgets: readonly number[]): Record<string, unknown> {
  return {
    title: 'labelled images K',
    values: budgets.map((_budget, i) => i),
    labelExpr: `${JSON.stringify(budgets.map(String))}[datum.value]`,
    grid: false,
  };
}

/**
 * Chart (a): mean test mIoU (%) against K, one line per method, error bars of +-1 sample std over seeds
 * (one error bar per (method, K) with at least two evaluated seeds).
 */
export async function miouByBudgetSvg(results: Pick<SweepResults, 'cells' | 'methods' | 'budgets'>): Promise<string> {
  const budgets = sortedBudgets(results);
  const offset = (method: string): number => (results.methods.length <= 1 ? 0 : (results.methods.indexOf(method) / (results.methods.length - 1) - 0.5) * DODGE);
  const values = summariseBudgets(results).flatMap((summary) => {
    if (summary.testMiou === null) return [];
    const { mean, std, n } = summary.testMiou;
    return [{
      method: summary.method,
      K: summary.labelled,
      slot: budgets.indexOf(summary.labelled) + offset(summary.method),
      mean: percent(mean),
      lower: std === null ? null : percent(mean - std),
      upper: std === null ? null : percent(mean + std),
      label: `${summary.method}, K = ${summary.labelled}: test mIoU ${describe(mean, std)} % over ${n} seed${n === 1 ? '' : 's'}`,
    }];
  });
  const spec: TopLevelSpec = {
    title: 'Test mIoU against labelled images (mean and ±1 std over seeds)',
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    encoding: {
      x: { field: 'slot', type: 'quantitative', scale: { domain: [-0.5, budgets.length - 0.5] }, axis: budgetAxis(budgets) },
      color: { field: 'method', type: 'nominal', title: 'method', scale: methodColour(results.methods) },
    },
    layer: [
      {
        transform: [{ filter: 'datum.lower != null' }],
        mark: { type: 'errorbar', ticks: { size: 8 } },
        encoding: { y: { field: 'lower', type: 'quantitative', title: 'test mIoU (%)' }, y2: { field: 'upper' }, description: { field: 'label' } },
      },
      {
        mark: { type: 'line' },
        encoding: { y: { field: 'mean', type: 'quantitative', title: 'test mIoU (%)', scale: { zero: false } }, description: { field: 'method' } },
      },
      {
        mark: { type: 'point', filled: true, size: 40 },
        encoding: { y: { field: 'mean', type: 'quantitative', title: 'test mIoU (%)' }, description: { field: 'label' } },
      },
    ],
  };
  return renderVegaLiteSvg(spec);
}

/**
 * Chart (b): test-mIoU gain (percentage points) of each method over `baseline` per K, the mean of the
 * per-seed paired differences as a bar with a +-1 std error bar. With no baseline in the sweep, the
 * SVG says so.
 */
export async function gainOverBaselineSvg(results: Pick<SweepResults, 'cells' | 'methods' | 'budgets'>, baseline: string = BASELINE_METHOD): Promise<string> {
  const methods = results.methods.filter((method) => method !== baseline);
  const values = gainsOverBaseline(results, baseline).flatMap((entry) => {
    if (entry.gain === null) return [];
    const { mean, std, n } = entry.gain;
    return [{
      method: entry.method,
      K: String(entry.labelled),
      gain: percent(mean),
      lower: std === null ? null : percent(mean - std),
      upper: std === null ? null : percent(mean + std),
      label: `${entry.method} - ${baseline}, K = ${entry.labelled}: ${describe(mean, std)} points over ${n} paired seed${n === 1 ? '' : 's'}`,
    }];
  });
  if (values.length === 0) return messageSvg(`no gain over ${baseline}: the sweep has no paired ${baseline} cells`);
  const yTitle = `test mIoU gain over ${baseline} (points)`;
  // The baseline's colour stays reserved (every chart colours a method alike), but it has no bar here.
  const all = methodColour(results.methods);
  const colours = { domain: methods, range: methods.map((method) => all.range[all.domain.indexOf(method)] as string) };
  const x = { field: 'K', type: 'ordinal', sort: sortedBudgets(results).map(String), title: 'labelled images K', axis: { labelAngle: 0 } } as const;
  const spec: TopLevelSpec = {
    title: `Gain over ${baseline} (paired by seed, mean and ±1 std)`,
    width: WIDTH,
    height: HEIGHT,
    layer: [
      {
        data: { values },
        encoding: { x, xOffset: { field: 'method', type: 'nominal', sort: methods } },
        layer: [
          {
            mark: { type: 'bar', opacity: 0.85 },
            encoding: {
              y: { field: 'gain', type: 'quantitative', title: yTitle },
              color: { field: 'method', type: 'nominal', title: 'method', scale: colours },
              description: { field: 'label' },
            },
          },
          {
            transform: [{ filter: 'datum.lower != null' }],
            mark: { type: 'errorbar', ticks: { size: 8 }, color: '#222' },
            encoding: { y: { field: 'lower', type: 'quantitative', title: yTitle }, y2: { field: 'upper' }, description: { field: 'label' } },
          },
        ],
      },
      { data: { values: [{ zero: 0 }] }, mark: { type: 'rule', color: '#555' }, encoding: { y: { field: 'zero', type: 'quantitative' } } },
    ],
  };
  return renderVegaLiteSvg(spec);
}

/**
 * Chart (c): the training curves of the lowest-seed cell of every method at the smallest K: one loss
 * panel per stage (the contrastive and cross-entropy losses differ in scale), and a validation-mIoU
 * panel when fine-tuning was evaluated. Methods without pretraining have no pretrain curve.
 */
export async function trainingCurvesAtSmallestBudgetSvg(results: Pick<SweepResults, 'cells' | 'methods' | 'budgets'>): Promise<string> {
  const cells = curveCells(results);
  const colour = { field: 'method', type: 'nominal', title: 'method', scale: methodColour(results.methods) } as const;
  const panels: Panel[] = [];
  for (const stage of ['pretrain', 'finetune'] as const) {
    const values = cells.flatMap((cell) => cell.curve.filter((point) => point.stage === stage && Number.isFinite(point.loss)).map((point) => ({ method: cell.method, step: point.step, value: point.loss })));
    if (values.length > 0) panels.push(curvePanel(`${stage} loss`, 'loss', values, colour));
  }
  const mious = cells.flatMap((cell) => cell.valCurve.filter((point) => Number.isFinite(point.mIoU)).map((point) => ({ method: cell.method, step: point.step, value: percent(point.mIoU) })));
  if (mious.length > 0) panels.push(curvePanel('validation mIoU during fine-tuning', 'val mIoU (%)', mious, colour));
  if (panels.length === 0) return messageSvg('no training curves recorded');
  const budget = sortedBudgets(results)[0];
  const title = `Training curves at K = ${budget} (lowest seed: ${[...new Set(cells.map((cell) => cell.seed))].join(', ')})`;
  return renderVegaLiteSvg({ title: { text: title, anchor: 'start', offset: 16 }, hconcat: panels, spacing: 24 } as TopLevelSpec);
}

/** Per method, its lowest-seed cell at the smallest budget. */
function curveCells(results: Pick<SweepResults, 'cells' | 'methods' | 'budgets'>): SweepCell[] {
  const budget = sortedBudgets(results)[0];
  return results.methods.flatMap((method) => {
    const cells = results.cells.filter((cell) => cell.method === method && cell.labelled === budget).sort((a, b) => a.seed - b.seed);
    return cells.length === 0 ? [] : [cells[0] as SweepCell];
  });
}

function curvePanel(title: string, valueTitle: string, values: readonly { method: string; step: number; value: number }[], colour: Record<string, unknown>): Panel {
  const perMethod = Math.max(...[...new Set(values.map((value) => value.method))].map((method) => values.filter((value) => value.method === method).length));
  return {
    title,
    width: 300,
    height: 200,
    data: { values: [...values] },
    mark: { type: 'line', point: perMethod <= MAX_MARKED_POINTS },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step', axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'value', type: 'quantitative', title: valueTitle, scale: { zero: false } },
      color: colour,
    },
  } as Panel;
}

/**
 * Chart (d): the embedding maps side by side, one dot per sampled pixel coloured by its ground-truth
 * class with the dataset's class colours, and one legend of the class names present. UMAP axes have
 * no units, so they are not drawn. Dots carry no ARIA labels (thousands of them would bloat the file).
 */
export async function embeddingMapsSvg(maps: readonly EmbeddingMap[], dataset: Pick<SweepResults['dataset'], 'classNames' | 'colours'>): Promise<string> {
  const nameOf = (id: number): string => dataset.classNames[id] ?? `class ${id}`;
  const present = [...new Set(maps.flatMap((map) => map.points.map((point) => point[2])))].sort((a, b) => a - b);
  if (present.length === 0) return messageSvg('no embedding points');
  const scale = {
    domain: present.map(nameOf),
    range: present.map((id) => {
      const colour = dataset.colours[id];
      return colour === undefined ? '#888888' : `rgb(${colour[0]},${colour[1]},${colour[2]})`;
    }),
  };
  const panels: Panel[] = maps.map((map) => ({
    title: map.title,
    width: MAP_SIZE,
    height: MAP_SIZE,
    data: { values: map.points.map(([x, y, id]) => ({ x, y, class: nameOf(id) })) },
    mark: { type: 'circle', size: 14, opacity: 0.8, aria: false },
    encoding: {
      x: { field: 'x', type: 'quantitative', axis: null, scale: { zero: false, nice: false, padding: 6 } },
      y: { field: 'y', type: 'quantitative', axis: null, scale: { zero: false, nice: false, padding: 6 } },
      color: { field: 'class', type: 'nominal', title: 'ground-truth class', scale, legend: { symbolOpacity: 1 } },
    },
  }) as Panel);
  return renderVegaLiteSvg({ hconcat: panels, spacing: 24, resolve: { scale: { x: 'independent', y: 'independent' } } } as TopLevelSpec);
}

function messageSvg(text: string): Promise<string> {
  return renderVegaLiteSvg({
    width: WIDTH,
    height: 40,
    data: { values: [{ text }] },
    mark: { type: 'text', fontSize: 14 },
    encoding: { text: { field: 'text', type: 'nominal' } },
  });
}
