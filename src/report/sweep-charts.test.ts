import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syntheticSweepResults } from './fixtures.js';
import type { SweepResults } from './results.js';
import { embeddingMapsSvg, gainOverBaselineSvg, miouByBudgetSvg, trainingCurvesAtSmallestBudgetSvg } from './sweep-charts.js';
import { prefixSvgIds } from './vega-svg.js';

function count(svg: string, pattern: RegExp): number {
  return svg.match(new RegExp(pattern, 'g'))?.length ?? 0;
}

test('miouByBudgetSvg: a line per method, a point and a +-1 std error bar per (method, K), labelled in percent', async () => {
  const results = await syntheticSweepResults();
  const svg = await miouByBudgetSvg(results);
  assert.match(svg, /^<svg[\s>]/);
  assert.equal(count(svg, /aria-roledescription="errorbar"/), 4);
  assert.equal(count(svg, /aria-roledescription="point"/), 4);
  assert.equal(count(svg, /aria-roledescription="line mark"/), 2);
  // ce at K = 4: 0.30 and 0.34, mean 32 %, sample std 2.83 %.
  assert.match(svg, /aria-label="ce, K = 4: test mIoU 32\.0 ± 2\.8 % over 2 seeds"/);
  assert.match(svg, /aria-label="within, K = 20: test mIoU 56\.0 ± 1\.4 % over 2 seeds"/);
  assert.match(svg, />4<\/text>[\s\S]*>20<\/text>/, 'budgets ascending on the x axis');
});

test('miouByBudgetSvg: a single seed gets a point but no error bar', async () => {
  const results = await syntheticSweepResults();
  const svg = await miouByBudgetSvg({ ...results, cells: results.cells.filter((cell) => cell.seed === 0) });
  assert.equal(count(svg, /aria-roledescription="errorbar"/), 0);
  assert.equal(count(svg, /aria-roledescription="point"/), 4);
  assert.match(svg, /aria-label="ce, K = 4: test mIoU 30\.0 % over 1 seed"/);
});

test('gainOverBaselineSvg: one bar and error bar per non-baseline method and K, from differences paired by seed', async () => {
  const results = await syntheticSweepResults();
  const svg = await gainOverBaselineSvg(results);
  assert.equal(count(svg, /aria-roledescription="bar"/), 2);
  assert.equal(count(svg, /aria-roledescription="errorbar"/), 2);
  // K = 4: within - ce = 0.08, 0.06 by seed: 7.0 +- 1.4 points.
  assert.match(svg, /aria-label="within - ce, K = 4: 7\.0 ± 1\.4 points over 2 paired seeds"/);
  assert.match(svg, /for fill color with 1 value: within"/, 'the baseline has no legend entry');
});

test('gainOverBaselineSvg: says so when the sweep has no baseline', async () => {
  const results: SweepResults = { ...(await syntheticSweepResults()), methods: ['within'] };
  const svg = await gainOverBaselineSvg(results);
  assert.match(svg, /no gain over ce: the sweep has no paired ce cells/);
  assert.equal(count(svg, /aria-roledescription="bar"/), 0);
});

test('trainingCurvesAtSmallestBudgetSvg: pretrain and finetune loss panels and val mIoU, one line per method that has the stage', async () => {
  const results = await syntheticSweepResults();
  const svg = await trainingCurvesAtSmallestBudgetSvg(results);
  assert.match(svg, /Training curves at K = 4 \(lowest seed: 0\)/);
  assert.match(svg, />pretrain loss<[\s\S]*>finetune loss<[\s\S]*>validation mIoU during fine-tuning</);
  assert.equal(count(svg, /aria-roledescription="line mark"/), 1 + 2 + 2, 'ce has no pretraining');
  assert.equal(count(svg, /aria-roledescription="point"/), 3 + 4 * 2 + 2 * 2);
});

test('embeddingMapsSvg: one panel per map, one dot per point, one legend of the class names present in class order', async () => {
  const results = await syntheticSweepResults();
  const svg = await embeddingMapsSvg(results.embeddings, results.dataset);
  for (const [panel, map] of results.embeddings.entries()) {
    const group = svg.match(new RegExp(`<g class="mark-symbol role-mark concat_${panel}_marks"[^>]*>([\\s\\S]*?)</g>`));
    assert.ok(group, `panel ${panel}`);
    assert.equal(count(group[1] as string, /<path /), map.points.length);
  }
  assert.match(svg, /Title text 'within \(after pretraining, before fine-tuning\)'/);
  assert.match(svg, /ground-truth class' for fill color with 3 values: Sky, Road, Car &lt;&amp;&gt;"/, 'escaped by vega');
  assert.match(svg, /fill="rgb\(64,0,128\)"/, "the dataset's colour for Car");
});

test('prefixSvgIds: ids and their references get the prefix, other attributes do not', () => {
  const svg = '<svg><clipPath id="clip1"><rect/></clipPath><g clip-path="url(#clip1)"><use href="#clip1" data-id="x"/></g></svg>';
  assert.equal(prefixSvgIds(svg, 'a-'), '<svg><clipPath id="a-clip1"><rect/></clipPath><g clip-path="url(#a-clip1)"><use href="#a-clip1" data-id="x"/></g></svg>');
});
