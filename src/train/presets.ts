/**
 * Named starting points for `contraseg train --preset NAME`: partial run configs, completed by the
 * schema's defaults and overridden by a config file and flags. Budgets are planned from measured step
 * times on a 2-core CPU (ResNet-18 width 0.5, batch 8, 128x128 crops: ~0.5 s a fine-tuning step,
 * ~1.4 s a pretraining step over both views, ~20 s to evaluate CamVid's 233 test images at 180x240).
 */
import { ConfigError } from '../errors.js';
import type { RunConfigInput } from './config.js';

/** Where the bundled CamVid copies live, relative to the repository root (the README's working directory). */
export const BUNDLED_CAMVID = '../shared/data/camvid_180x240';
export const BUNDLED_CAMVID_FULL = '../shared/data/camvid';

// No preset names a method: the default (within) applies, and `--method` or `--set pretrain.loss=...` picks another.
const camvidQuick: RunConfigInput = {
  baseline: true,
  batchSize: 8,
  checkpointEvery: 50,
  data: { kind: 'camvid', root: BUNDLED_CAMVID, labelled: { count: 20 }, crop: { height: 128, width: 128 } },
  model: { backbone: 'resnet18', outputStride: 16, widthMultiplier: 0.5 },
  // 400 + 200 chosen on val (docs/results/NOTES.md): within val mIoU 26.7 vs ce 25.0 at 600 steps; 200 + 200: 24.4 vs 21.8 at 400
  pretrain: { steps: 400, optimizer: { kind: 'sgd', lr: 0.05 }, warmupSteps: 10 },
  finetune: { steps: 200, optimizer: { kind: 'sgd', lr: 0.01 } },
  eval: { every: 0, test: true },
};

const camvid: RunConfigInput = {
  ...camvidQuick,
  checkpointEvery: 200,
  data: { kind: 'camvid', root: BUNDLED_CAMVID_FULL, labelled: { count: 50 }, crop: { height: 256, width: 256 } },
  model: { backbone: 'resnet18', outputStride: 16, widthMultiplier: 1 },
  pretrain: { steps: 3000, optimizer: { kind: 'sgd', lr: 0.05 }, warmupSteps: 100 },
  finetune: { steps: 3000, optimizer: { kind: 'sgd', lr: 0.01 } },
  eval: { every: 500, test: true },
};

/**
 * Paper-scale settings (Zhao et al. 2021, Sec. 4: DeepLabV3+ ResNet-50, OS 16, 513x513 crops for VOC,
 * 769x769 for Cityscapes, batch 16, pretraining then fine-tuning for tens of thousands of steps) —
 * documented for machines with far more compute than a laptop; data must be downloaded separately.
 */
const voc: RunConfigInput = {
  batchSize: 16,
  checkpointEvery: 1000,
  data: { kind: 'voc', root: 'data/VOCdevkit/VOC2012', valSplit: 'val', testSplit: null, labelled: 'all', crop: { height: 513, width: 513 } },
  model: { backbone: 'resnet50', outputStride: 16, widthMultiplier: 1 },
  pretrain: { steps: 30000, optimizer: { kind: 'sgd', lr: 0.1 }, warmupSteps: 1000 },
  finetune: { steps: 30000, optimizer: { kind: 'sgd', lr: 0.01 } },
  eval: { every: 5000, test: false },
};

const cityscapes: RunConfigInput = {
  ...voc,
  data: { kind: 'cityscapes', root: 'data/cityscapes', valSplit: 'val', testSplit: null, labelled: 'all', crop: { height: 769, width: 769 } },
  pretrain: { steps: 40000, optimizer: { kind: 'sgd', lr: 0.1 }, warmupSteps: 1000 },
  finetune: { steps: 40000, optimizer: { kind: 'sgd', lr: 0.01 } },
};

/** Every preset by name. */
export const PRESETS: Readonly<Record<string, RunConfigInput>> = { 'camvid-quick': camvidQuick, camvid, voc, cityscapes };

/** One-line descriptions for --help. */
export const PRESET_DESCRIPTIONS: Readonly<Record<string, string>> = {
  'camvid-quick': 'bundled CamVid 180x240, 20 labelled images, ResNet-18 x0.5, 400+200 steps, with the CE baseline at 600 steps (10-15 min on 2 cores)',
  camvid: 'bundled CamVid 360x480, 50 labelled images, ResNet-18, 3000+3000 steps, 256x256 crops',
  voc: 'PASCAL VOC 2012 (download separately), ResNet-50 OS 16, 513x513 crops, batch 16 (paper scale)',
  cityscapes: 'Cityscapes (download separately), ResNet-50 OS 16, 769x769 crops, batch 16 (paper scale)',
};

/** @throws ConfigError naming the known presets. */
export function preset(name: string): RunConfigInput {
  const found = PRESETS[name];
  if (found === undefined) throw new ConfigError(`unknown preset "${name}"; allowed: ${Object.keys(PRESETS).join(', ')}`);
  return structuredClone(found);
}
