import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainingCurvesSvg, type MetricRecord } from './curves.js';

/** A small well-formedness check: one <svg> root, every tag closed in order, attributes quoted, no stray < or >, known entities. */
function assertWellFormedXml(xml: string): void {
  const body = xml.replace(/^<\?xml[^>]*\?>/, '').replace(/<!--[\s\S]*?-->/g, '').trim();
  assert.match(body, /^<svg[\s>][\s\S]*<\/svg>$/, 'one <svg> root');
  const open: string[] = [];
  for (const [tag, closing, name, attributes, selfClosing] of body.matchAll(/<(\/?)([A-Za-z][\w:.-]*)([^<>]*?)(\/?)>/g)) {
    assert.match(attributes as string, /^(\s+[\w:.-]+="[^"<]*")*\s*$/, `attributes of ${tag}`);
    if (closing === '/') assert.equal(open.pop(), name, `closing ${tag}`);
    else if (selfClosing !== '/') open.push(name as string);
    if (open.length === 0) assert.ok(body.endsWith(tag), `content after the root closes at ${tag}`);
  }
  assert.deepEqual(open, [], 'unclosed tags');
  assert.doesNotMatch(body.replace(/<[^<>]*>/g, ''), /[<>]/, 'stray < or >');
  assert.doesNotMatch(body, /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/, 'unknown entity');
}

function count(svg: string, pattern: RegExp): number {
  return svg.match(new RegExp(pattern, 'g'))?.length ?? 0;
}

/** The bold axis and panel titles, in order. */
function titles(svg: string): string[] {
  return [...svg.matchAll(/<text [^>]*font-weight="bold"[^>]*>([^<]*)<\/text>/g)].map((match) => match[1] as string);
}

const RUN: MetricRecord[] = [
  { stage: 'pretrain', step: 1, loss: 3.2, lr: 0.1 },
  { stage: 'pretrain', step: 2, loss: 2.9, lr: 0.1 },
  { stage: 'pretrain', step: 3, loss: 2.5, lr: 0.09 },
  { stage: 'finetune', step: 1, loss: 1.4 },
  { stage: 'finetune', step: 2, loss: 1.1, valMiou: 0.31 },
  { stage: 'finetune', step: 4, loss: 0.9, valMiou: 0.42 },
];

test('trainingCurvesSvg: a loss panel per stage and a validation mIoU panel, one point per value', async () => {
  const svg = await trainingCurvesSvg(RUN);
  assertWellFormedXml(svg);
  assert.equal(count(svg, /aria-roledescription="line mark"/), 3, 'pretrain loss, finetune loss, mIoU');
  assert.equal(count(svg, /aria-roledescription="point"/), 3 + 3 + 2);
  assert.deepEqual(titles(svg), ['step', 'loss', 'pretrain loss', 'step', 'loss', 'finetune loss', 'step', 'mIoU', 'validation mIoU']);
  assert.match(svg, /aria-label="step: 4; mIoU: 0\.42"/);
  assert.match(svg, /aria-label="step: 3; loss: 2\.5"/);
});

test('trainingCurvesSvg: records in any order, non-finite values left out, mIoU coloured by stage when both stages have it', async () => {
  const svg = await trainingCurvesSvg([
    { stage: 'finetune', step: 2, loss: 1, valMiou: 0.5 },
    { stage: 'pretrain', step: 5, loss: Number.NaN, valMiou: 0.2 },
    { stage: 'finetune', step: 1, loss: Number.POSITIVE_INFINITY },
  ]);
  assertWellFormedXml(svg);
  assert.deepEqual(titles(svg), ['step', 'loss', 'finetune loss', 'step', 'mIoU', 'validation mIoU', 'stage']);
  assert.equal(count(svg, /aria-roledescription="point"/), 1 + 2);
  assert.match(svg, />pretrain<\/text>[\s\S]*>finetune<\/text>/, 'legend in stage order');
  assert.match(svg, /aria-label="step: 2; mIoU: 0\.5; stage: finetune"/);
});

test('trainingCurvesSvg: a single point and no records render without throwing', async () => {
  const single = await trainingCurvesSvg([{ stage: 'pretrain', step: 0, loss: 1 }]);
  assertWellFormedXml(single);
  assert.equal(count(single, /aria-roledescription="point"/), 1);
  assert.deepEqual(titles(single), ['step', 'loss', 'pretrain loss']);

  for (const records of [[], [{ stage: 'finetune', step: 3, lr: 0.01 }] as MetricRecord[]]) {
    const empty = await trainingCurvesSvg(records);
    assertWellFormedXml(empty);
    assert.match(empty, />no metrics recorded<\/text>/);
    assert.equal(count(empty, /aria-roledescription="(point|line mark)"/), 0);
  }
});

test('trainingCurvesSvg: long series are drawn as bare lines', async () => {
  const records = Array.from({ length: 500 }, (_, step): MetricRecord => ({ stage: 'pretrain', step, loss: 1 / (step + 1) }));
  const svg = await trainingCurvesSvg(records);
  assertWellFormedXml(svg);
  assert.equal(count(svg, /aria-roledescription="line mark"/), 1);
  assert.equal(count(svg, /aria-roledescription="point"/), 0);
});
