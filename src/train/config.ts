/**
 * The run configuration: one zod schema, parsed once at the edge (CLI flags, config files, presets),
 * then passed to the core as a typed, fully defaulted object. Every default is written here, once.
 */
import { z } from 'zod';
import { PAPER_TEMPERATURE } from '../losses/constants.js';
import { DATASET_KINDS } from '../data/open-dataset.js';
import { ConfigError } from '../errors.js';

/** SGD momentum of TF DeepLab (train.py: momentum 0.9), which the paper's code builds on. */
export const DEEPLAB_MOMENTUM = 0.9;

const positiveInt = z.number().int().positive();
/** Widths above this are refused at parse time, so a damaged config cannot make the model allocate gigabytes. */
const MAX_CHANNELS = 4096;
const nonNegativeInt = z.number().int().nonnegative();

const sgdSchema = z.object({
  kind: z.literal('sgd'),
  lr: z.number().positive(),
  momentum: z.number().min(0).max(1).default(DEEPLAB_MOMENTUM),
  nesterov: z.boolean().default(false),
  /** Applied to convolution weights only: BatchNorm parameters and biases get none (parameter groups). */
  weightDecay: z.number().min(0).default(1e-4),
}).strict();

const adamwSchema = z.object({
  kind: z.literal('adamw'),
  lr: z.number().positive(),
  betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.999]),
  eps: z.number().positive().default(1e-8),
  weightDecay: z.number().min(0).default(1e-2),
}).strict();

/** Optimiser of a stage (a discriminated union on `kind`). */
export const optimizerSchema = z.discriminatedUnion('kind', [sgdSchema, adamwSchema]);

const stageFields = {
  /** Optimisation steps of the stage (iteration-based: images repeat as needed). */
  steps: nonNegativeInt,
  optimizer: optimizerSchema.default({ kind: 'sgd', lr: 0.01 }),
  /** Learning-rate decay over the stage: poly power 0.9 (TF DeepLab), cosine, or constant. */
  schedule: z.enum(['poly', 'cosine', 'constant']).default('poly'),
  /** Linear warm-up steps (from 0.1% of the lr). */
  warmupSteps: nonNegativeInt.default(0),
  /** Clip the global gradient L2 norm to this value; null = no clipping. */
  gradClip: z.number().positive().nullable().default(null),
};

/** The stage-1 losses (src/losses): the paper's within-image and cross-image, the batch ablation, the official code's. */
export const CONTRASTIVE_LOSSES = ['within', 'cross', 'batch', 'official'] as const;
export type ContrastiveLoss = (typeof CONTRASTIVE_LOSSES)[number];

/** Stage 1: label-based pixel-wise contrastive pretraining. */
export const pretrainSchema = z.object({
  ...stageFields,
  steps: nonNegativeInt.default(300),
  /** The contrastive loss. Normally left out: `method` chooses it (a value that contradicts `method` is an error). */
  loss: z.enum(CONTRASTIVE_LOSSES).optional(),
  temperature: z.number().positive().default(PAPER_TEMPERATURE),
  /** Stride of the map the loss sees: 4 = the decoder's own output; 8 or 16 average-pool it first (cheaper). */
  lossStride: z.union([z.literal(4), z.literal(8), z.literal(16)]).default(4),
  /**
   * At most this many anchors of each class per image (capAnchorsPerClass; the contrast set keeps every
   * pixel), so rare classes weigh in stage 1 as much as large ones; null = every valid pixel is an anchor,
   * as in the paper. Not for the 'official' loss, whose two label maps are both anchors and contrast set.
   */
  anchorsPerClass: positiveInt.nullable().default(null),
  head: z.object({
    layers: positiveInt.default(3),
    width: positiveInt.max(MAX_CHANNELS).default(256),
    batchNorm: z.boolean().default(false),
  }).strict().default({}),
  /** Strength s of SimCLR's colour distortion for Î (jitter 0.8s, hue 0.2s); 0.5 = DEFAULT_DISTORTIONS. */
  distortionStrength: z.number().min(0).max(2.5).default(0.5),
  /** > 0 adds a classifier and weight x cross-entropy to stage 1 (ContrastiveSeg-style joint training). */
  ceWeight: z.number().min(0).default(0),
}).strict();

/** The largest logit-adjustment tau accepted anywhere (config, flags, checkpoints): beyond it the prior swamps every logit. */
export const MAX_LOGIT_ADJUSTMENT = 10;

/** Stage 2: softmax fine-tuning (and the cross-entropy baseline). */
export const finetuneSchema = z.object({
  ...stageFields,
  steps: nonNegativeInt.default(300),
  /** Per-class weights of the cross-entropy (length = number of classes), or null. */
  classWeights: z.array(z.number().min(0)).nullable().default(null),
  /**
   * Post-hoc logit adjustment tau (src/train/logit-adjustment.ts): evaluation and inference subtract
   * tau * log(class share of the labelled pixels) from the logits; training is unchanged. 0 = off;
   * 1 = the balanced-error correction (Menon et al., ICLR 2021).
   */
  logitAdjustment: z.number().min(0).max(MAX_LOGIT_ADJUSTMENT).default(0),
}).strict();

const cropSchema = z.object({ height: positiveInt, width: positiveInt }).strict();

export const dataSchema = z.object({
  kind: z.enum(DATASET_KINDS),
  root: z.string().min(1),
  trainSplit: z.string().default('train'),
  valSplit: z.string().nullable().default('val'),
  testSplit: z.string().nullable().default('test'),
  /** Labelled images drawn from the train split (nested across budgets for one seed), or 'all'. */
  labelled: z.union([z.literal('all'), z.object({ count: positiveInt }).strict(), z.object({ fraction: z.number().gt(0).max(1) }).strict()]).default('all'),
  /** A split file (one id per line) naming the labelled images; overrides `labelled`. */
  splitFile: z.string().nullable().default(null),
  crop: cropSchema.default({ height: 128, width: 128 }),
  scale: z.tuple([z.number().positive(), z.number().positive()]).default([0.5, 2.0]),
  flipProbability: z.number().min(0).max(1).default(0.5),
  /** Decoding worker threads; null = min(4, cores - 1). */
  workers: nonNegativeInt.nullable().default(null),
}).strict();

export const modelSchema = z.object({
  backbone: z.enum(['resnet18', 'resnet34', 'resnet50', 'mobilenetv2']).default('resnet18'),
  outputStride: z.union([z.literal(8), z.literal(16)]).default(16),
  /** Channel width of the backbone relative to torchvision's (<= 4: a config or checkpoint asking for more is refused before anything is allocated). */
  widthMultiplier: z.number().positive().max(4).default(1),
  /** ASPP / decoder widths; null = 256 and 48 scaled by widthMultiplier. */
  asppChannels: positiveInt.max(MAX_CHANNELS).nullable().default(null),
  decoderChannels: positiveInt.max(MAX_CHANNELS).nullable().default(null),
  reductionChannels: positiveInt.max(MAX_CHANNELS).nullable().default(null),
  /** ImageNet backbone weights (safetensors, see src/models/README.md); null = random init. */
  backboneWeights: z.string().nullable().default(null),
  /** Channels-last layout: faster on some CPUs, slower on others (bench/RESULTS.md); opt-in. */
  channelsLast: z.boolean().default(false),
}).strict();

export const evalSchema = z.object({
  /** Evaluate on the val split every N fine-tuning steps (and at the end); 0 = only at the end. */
  every: nonNegativeInt.default(0),
  /** Also evaluate the final model on the test split. */
  test: z.boolean().default(true),
  flip: z.boolean().default(false),
  scales: z.array(z.number().positive()).min(1).default([1]),
}).strict();

/** What a step with a NaN/Inf loss or gradient does (runSchema.nanPolicy). */
export const NAN_POLICIES = ['stop', 'skip'] as const;
export type NanPolicy = (typeof NAN_POLICIES)[number];

/**
 * How checkpoints reach the disk (runSchema.checkpointWrites). 'sync' (the default): the training loop writes each one
 * (hash, temp file, fsync, rename) before its next step, so a kill loses at most one checkpoint interval.
 * 'background': the loop copies the state and trains on while a writer thread writes it; faster where a
 * core is free, but a kill can then lose the interval plus the steps run while the last write was in
 * flight (up to two intervals, never past the end of a stage).
 */
export const CHECKPOINT_WRITES = ['sync', 'background'] as const;
export type CheckpointWrites = (typeof CHECKPOINT_WRITES)[number];

/** Every training method: the contrastive losses (two stages) or plain cross-entropy (`ce`). */
export const METHODS = ['ce', ...CONTRASTIVE_LOSSES] as const;
export type Method = (typeof METHODS)[number];

const runObject = z.object({
  /** ce, or the contrastive loss of stage 1 (default within; or pretrain.loss when only that is given). */
  method: z.enum(METHODS).optional(),
  seed: nonNegativeInt.default(0),
  batchSize: positiveInt.default(8),
  /** libtorch intra-op threads; null = the machine's cores. */
  threads: positiveInt.nullable().default(null),
  /** Write a checkpoint every N steps of a stage (and at its end). */
  checkpointEvery: positiveInt.default(100),
  /** 'sync' (default: a kill loses at most one interval) or 'background'; see CHECKPOINT_WRITES. */
  checkpointWrites: z.enum(CHECKPOINT_WRITES).default('sync'),
  /** A metrics line every N steps. */
  logEvery: positiveInt.default(10),
  /**
   * A non-finite (NaN/Inf) loss or gradient: 'stop' throws NumericalError naming the stage and step, leaving
   * the last good checkpoint; 'skip' drops that step's update (weights, optimiser state and BatchNorm
   * statistics stay as they were), logs it to metrics.jsonl and goes on, up to maxNanSkips in a row.
   */
  nanPolicy: z.enum(NAN_POLICIES).default('stop'),
  /** With nanPolicy 'skip': this many consecutive skipped steps stop the run with NumericalError. */
  maxNanSkips: positiveInt.default(5),
  /** `train` also trains the cross-entropy baseline with the same labels and total steps, and prints both. */
  baseline: z.boolean().default(false),
  data: dataSchema,
  model: modelSchema.default({}),
  pretrain: pretrainSchema.default({}),
  finetune: finetuneSchema.default({}),
  eval: evalSchema.default({}),
}).strict();

/**
 * A run: `method` and `pretrain.loss` are one choice. The method decides the stage-1 loss; a pretrain.loss
 * given alone sets the method; the two given and different is an error (a `cross` run that silently
 * pretrained with `within` was once possible).
 */
export const runSchema = runObject.superRefine((config, ctx) => {
  const loss = config.pretrain.loss;
  if (config.method !== undefined && config.method !== 'ce' && loss !== undefined && loss !== config.method) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['pretrain', 'loss'], message: `"${loss}" contradicts method "${config.method}"; the method chooses the pretraining loss, so set only one of them` });
  }
  if ((config.method ?? loss) === 'official' && config.pretrain.anchorsPerClass !== null) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['pretrain', 'anchorsPerClass'], message: 'the official loss has no separate anchor labels to cap; leave anchorsPerClass null' });
  }
}).transform((config) => {
  const method: Method = config.method ?? config.pretrain.loss ?? 'within';
  const loss: ContrastiveLoss = method === 'ce' ? (config.pretrain.loss ?? 'within') : method;
  return { ...config, method, pretrain: { ...config.pretrain, loss } };
});

/** A validated run configuration (every default filled in). */
export type RunConfig = z.output<typeof runSchema>;
/** What a config file or preset may hold (defaults optional). */
export type RunConfigInput = z.input<typeof runSchema>;
export type OptimizerConfig = z.output<typeof optimizerSchema>;
export type PretrainConfig = RunConfig['pretrain'];
export type FinetuneConfig = z.output<typeof finetuneSchema>;
export type StageConfig = PretrainConfig | FinetuneConfig;

/** One line per problem: the key path, what is wrong and, for enums and unions, what is allowed. */
export function describeIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    switch (issue.code) {
      case 'unrecognized_keys':
        return `${key === '(top level)' ? '' : `${key}: `}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      case 'invalid_enum_value':
        return `${key}: got ${JSON.stringify(issue.received)}, allowed: ${issue.options.map((o) => JSON.stringify(o)).join(', ')}`;
      case 'invalid_union_discriminator':
        return `${key}: allowed: ${issue.options.map((o) => JSON.stringify(o)).join(', ')}`;
      default:
        return `${key}: ${issue.message}`;
    }
  });
  return `invalid configuration (${source}):\n  ${lines.join('\n  ')}`;
}

/** Validates and fills a configuration. @throws ConfigError listing every offending key. */
export function parseRunConfig(input: unknown, source = 'config'): RunConfig {
  const result = runSchema.safeParse(input);
  if (!result.success) throw new ConfigError(describeIssues(result.error, source));
  const config = result.data;
  if (config.data.scale[0] > config.data.scale[1]) {
    throw new ConfigError(`invalid configuration (${source}):\n  data.scale: expected [min, max] with min <= max, got [${config.data.scale.join(', ')}]`);
  }
  return config;
}
