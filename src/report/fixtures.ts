/**
 * Test fixture: a small synthetic results.json (2 methods, 2 budgets, 2 seeds, 2 prediction rows of
 * real PNG data URLs, 2 embedding maps), with HTML-special characters in its strings so that tests can
 * check escaping. For tests and examples only.
 */
import sharp from 'sharp';
import { RESULTS_VERSION, type CurvePoint, type EvaluationSummary, type SweepCell, type SweepResults } from './results.js';

/** Test mIoU by method, K and seed; val is 0.02 above. ce's seed-1 cell at K = 20 gains 0.04 over seed 0. */
const TEST_MIOU: Record<string, Record<number, [number, number]>> = {
  ce: { 4: [0.3, 0.34], 20: [0.5, 0.54] },
  within: { 4: [0.38, 0.4], 20: [0.55, 0.57] },
};
const CLASS_NAMES = ['Sky', 'Road', 'Car <&>'];
const COLOURS: [number, number, number][] = [[128, 128, 128], [128, 64, 128], [64, 0, 128]];

function evaluation(mIoU: number): EvaluationSummary {
  return { mIoU, pixelAccuracy: Math.round((0.8 + mIoU / 10) * 1000) / 1000, meanClassAccuracy: mIoU + 0.05, frequencyWeightedIoU: mIoU + 0.1, classIoU: [mIoU + 0.2, mIoU, mIoU === 0.3 ? null : mIoU - 0.2], images: 3, seconds: 0.5 };
}

function curve(method: string): CurvePoint[] {
  const finetune = [1, 2, 3, 4].map((step) => ({ stage: 'finetune' as const, step, loss: (method === 'ce' ? 2.4 : 2) / step }));
  return method === 'ce' ? finetune : [...[1, 2, 3].map((step) => ({ stage: 'pretrain' as const, step, loss: 6 - step })), ...finetune];
}

function cell(method: string, labelled: number, seed: number): SweepCell {
  const mIoU = (TEST_MIOU[method]?.[labelled] ?? [0, 0])[seed] ?? 0;
  const pretrain = method === 'ce' ? 0 : 3;
  return {
    method, labelled, seed,
    steps: { pretrain, finetune: 4 },
    val: evaluation(mIoU + 0.02),
    test: evaluation(mIoU),
    seconds: { pretrain: pretrain * 10, finetune: 40, total: pretrain * 10 + 45 + seed },
    curve: curve(method),
    valCurve: [{ step: 2, mIoU: mIoU - 0.05 }, { step: 4, mIoU: mIoU + 0.02 }],
  };
}

/** A `width` x `height` PNG of one colour, as a data URL. */
export async function solidPngDataUrl(width: number, height: number, rgb: readonly [number, number, number]): Promise<string> {
  const png = await sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** The synthetic sweep: methods ce and within, K = 4 and 20, seeds 0 and 1. */
export async function syntheticSweepResults(): Promise<SweepResults> {
  const methods = ['ce', 'within'];
  const budgets = [20, 4];
  const predictions = await Promise.all(['0001TP_006690', '0016E5_07959'].map(async (id, row) => ({
    id,
    image: await solidPngDataUrl(24, 18, [40 + row * 80, 90, 160]),
    truth: await solidPngDataUrl(24, 18, COLOURS[row] as [number, number, number]),
    predictions: Object.fromEntries(await Promise.all(methods.map(async (method, i) => [method, await solidPngDataUrl(24, 18, COLOURS[(row + i) % 3] as [number, number, number])] as const))),
  })));
  // Ten points per class on a sunflower spiral around the class's centre: tighter for the pretrained map.
  const mapPoints = (spread: number): [number, number, number][] => Array.from({ length: 30 }, (_unused, i) => {
    const radius = spread * Math.sqrt(Math.floor(i / 3) + 1);
    const angle = i * 2.39996;
    return [[0, 6, 3][i % 3]! + radius * Math.cos(angle), [0, 0, 5][i % 3]! + radius * Math.sin(angle), i % 3];
  });
  return {
    version: RESULTS_VERSION,
    command: 'contraseg sweep --dataset camvid --methods ce,within --budgets 4,20 --seeds 2 --out "runs/a&b"',
    createdAt: '2026-12-02T17:00:00.000Z',
    dataset: { name: 'camvid', classNames: CLASS_NAMES, colours: COLOURS, trainImages: 367, valImages: 101, testImages: 233 },
    protocol: 'Learning rates chosen on val only <never on test> & fixed before the test run.',
    settings: { network: 'deeplabv3plus-resnet18', crop: [128, 160], batch: 4, lr: { pretrain: 0.1, finetune: 0.01 } },
    methods,
    budgets,
    cells: methods.flatMap((method) => budgets.flatMap((labelled) => [0, 1].map((seed) => cell(method, labelled, seed)))),
    predictions,
    embeddings: [
      { title: 'ce (fine-tuned)', points: mapPoints(0.9) },
      { title: 'within (after pretraining, before fine-tuning)', points: mapPoints(0.4) },
    ],
    machine: 'Test CPU @ 2.0GHz, 2 cores, 1 thread',
  };
}
