/**
 * The data contract between `contraseg sweep` and the report: results.json. Plain JSON (no tensors),
 * so the report could render a PyTorch run's results too. Fractions are in [0, 1]; a class IoU is null
 * where the class is absent from both ground truth and prediction.
 */

/** Current version of results.json. */
export const RESULTS_VERSION = 1;

/** Metrics of one evaluation. */
export interface EvaluationSummary {
  readonly mIoU: number;
  readonly pixelAccuracy: number;
  readonly meanClassAccuracy: number;
  readonly frequencyWeightedIoU: number;
  /** By class id, null = class absent. */
  readonly classIoU: readonly (number | null)[];
  readonly images: number;
  readonly seconds: number;
}

/** One point of a training curve. */
export interface CurvePoint {
  readonly stage: 'pretrain' | 'finetune';
  readonly step: number;
  readonly loss: number;
}

/** One (method, K, seed) cell of the sweep. */
export interface SweepCell {
  readonly method: string;
  /** Labelled images K. */
  readonly labelled: number;
  readonly seed: number;
  readonly steps: { readonly pretrain: number; readonly finetune: number };
  readonly val: EvaluationSummary | null;
  readonly test: EvaluationSummary | null;
  /**
   * Seconds on a machine running only this cell: stage 1, stage 2 (its evaluations included), the whole cell;
   * steps x the median logged step time plus evaluations (src/train/sweep-time.ts), so pauses do not count.
   */
  readonly seconds: { readonly pretrain: number; readonly finetune: number; readonly total: number };
  /** The last process's measured wall clock for the whole cell, pauses included (absent in older results). */
  readonly wallSeconds?: number;
  /**
   * Median over the cell's logged steps of the machine's 1-minute load average (null when its log has none;
   * absent in older results). Above `cores` + 1 the cell shared the machine with work beyond the sweep's own
   * threads, and its `seconds` overstate what it takes alone.
   */
  readonly load?: number | null;
  /** Loss per logged step. */
  readonly curve: readonly CurvePoint[];
  /** Val mIoU per evaluation during fine-tuning. */
  readonly valCurve: readonly { readonly step: number; readonly mIoU: number }[];
}

/** A grid row: one test image, its ground truth and each method's prediction, as PNG data URLs. */
export interface PredictionRow {
  readonly id: string;
  readonly image: string;
  readonly truth: string;
  /** Method -> coloured prediction (from the seed-0 model at the smallest K). */
  readonly predictions: Readonly<Record<string, string>>;
}

/** 2-D map of sampled test pixels: one point per pixel, coloured by its ground-truth class. */
export interface EmbeddingMap {
  /** e.g. "ce (fine-tuned)" or "within (after pretraining, before fine-tuning)". */
  readonly title: string;
  /** [x, y, class id] per sampled pixel. */
  readonly points: readonly (readonly [number, number, number])[];
}

/** results.json. */
export interface SweepResults {
  readonly version: number;
  /** The exact command that produced the file. */
  readonly command: string;
  readonly createdAt: string;
  readonly dataset: {
    readonly name: string;
    readonly classNames: readonly string[];
    readonly colours: readonly (readonly [number, number, number])[];
    readonly trainImages: number;
    readonly valImages: number;
    readonly testImages: number;
  };
  /** How hyperparameters were chosen (on val), in words, for the report. */
  readonly protocol: string;
  /** The settings every cell shares (network, crop, batch, lr...), plain JSON. */
  readonly settings: Record<string, unknown>;
  readonly methods: readonly string[];
  readonly budgets: readonly number[];
  readonly cells: readonly SweepCell[];
  readonly predictions: readonly PredictionRow[];
  readonly embeddings: readonly EmbeddingMap[];
  /** Machine the sweep ran on (CPU model, cores, threads), for the wall-clock figures. */
  readonly machine: string;
  /** Its logical cores, which the cells' `load` is compared with (absent in older results). */
  readonly cores?: number;
}
