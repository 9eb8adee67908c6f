/**
 * Training curves as a self-contained SVG: one loss-against-step panel per stage (the contrastive and
 * cross-entropy losses have different scales, and each stage counts its own steps) and, when validation
 * was run, a validation-mIoU panel. Drawn by vega-lite and rendered headless by vega (no browser, no
 * canvas), from the records of a run's metrics.jsonl.
 */
import type { TopLevelSpec } from 'vega-lite';
import { renderVegaLiteSvg } from './vega-svg.js';

/** A training stage of a run. */
export type TrainingStage = 'pretrain' | 'finetune';

/** One line of a run's metrics.jsonl. Missing or non-finite values are left out of the chart. */
export interface MetricRecord {
  readonly stage: TrainingStage;
  readonly step: number;
  readonly loss?: number;
  readonly lr?: number;
  /** Validation mean IoU, as recorded (a fraction in [0, 1] by contraseg). */
  readonly valMiou?: number;
}

const STAGES: readonly TrainingStage[] = ['pretrain', 'finetune'];
const PANEL_WIDTH = 480;
const PANEL_HEIGHT = 180;
/** Above this many points a series is drawn as a bare line: markers would hide it (and bloat the file). */
const MAX_MARKED_POINTS = 60;

interface CurvePoint { readonly stage: TrainingStage; readonly step: number; readonly value: number }
/** A vega-lite panel spec (vega-lite exports only TopLevelSpec as a stable type; this is its vconcat item). */
type Panel = Extract<TopLevelSpec, { vconcat: unknown }>['vconcat'][number];

/**
 * Renders the training curves of `records` (in any order) as an SVG document. With no loss and no
 * mIoU value, the SVG says "no metrics recorded" instead of drawing empty axes.
 */
export async function trainingCurvesSvg(records: readonly MetricRecord[]): Promise<string> {
  const panels: Panel[] = [];
  for (const stage of STAGES) {
    const losses = pointsOf(records.filter((record) => record.stage === stage), 'loss');
    if (losses.length > 0) panels.push(linePanel(`${stage} loss`, 'loss', losses, false));
  }
  const mious = pointsOf(records, 'valMiou');
  if (mious.length > 0) panels.push(linePanel('validation mIoU', 'mIoU', mious, new Set(mious.map((point) => point.stage)).size > 1));
  const spec: TopLevelSpec = panels.length === 0 ? emptyPanel() : { vconcat: panels, spacing: 32 };
  return renderVegaLiteSvg(spec);
}

function pointsOf(records: readonly MetricRecord[], field: 'loss' | 'valMiou'): CurvePoint[] {
  const points: CurvePoint[] = [];
  for (const record of records) {
    const value = record[field];
    if (value !== undefined && Number.isFinite(value) && Number.isFinite(record.step)) points.push({ stage: record.stage, step: record.step, value });
  }
  return points;
}

function linePanel(title: string, valueTitle: string, points: readonly CurvePoint[], colourByStage: boolean): Panel {
  return {
    title,
    width: PANEL_WIDTH,
    height: PANEL_HEIGHT,
    data: { values: [...points] },
    mark: { type: 'line', point: points.length <= MAX_MARKED_POINTS },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step', axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'value', type: 'quantitative', title: valueTitle, scale: { zero: false } },
      ...(colourByStage ? { color: { field: 'stage', type: 'nominal', title: 'stage', sort: [...STAGES] } } : {}),
    },
  };
}

function emptyPanel(): TopLevelSpec {
  return {
    width: PANEL_WIDTH,
    height: PANEL_HEIGHT / 3,
    data: { values: [{ text: 'no metrics recorded' }] },
    mark: { type: 'text', fontSize: 14 },
    encoding: { text: { field: 'text', type: 'nominal' } },
  };
}
