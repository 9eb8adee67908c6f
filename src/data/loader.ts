/**
 * The training data loader: batches of tensors from a dataset, decoded and augmented in worker threads
 * with a prefetch queue, so the training step does not wait whenever decoding is faster than training.
 *
 * Determinism: the epoch order is a permutation seeded by (seed, epoch) and every sample's augmentation
 * stream is seeded by (seed, epoch, sample index), so batches are identical for a seed whatever the
 * number of workers or their timing.
 */
import { availableParallelism } from 'node:os';
import type { GeometricOptions, Rgb } from '../augment/geometric.js';
import type { DistortionOptions } from '../augment/photometric.js';
import { Rng, deriveSeed } from '../augment/rng.js';
import { ConfigError } from '../errors.js';
import { tensor } from '../torch/creation.js';
import type { Tensor } from '../torch/tensor.js';
import { IMAGENET_MEAN, IMAGENET_STD, buildBatch, checkRecipe, type BatchItem, type BatchRecipe, type RawBatch } from './batch.js';
import type { SegmentationDataset } from './types.js';
import { DEFAULT_LOADER_CACHE_BYTES } from './loader-cache.js';
import { WorkerPool, startLoaderWorker } from './worker-pool.js';

/** Which images a batch carries: one view, or the pair (I, Î) of contrastive pretraining. */
export type LoaderViews =
  | { readonly kind: 'single' }
  | { readonly kind: 'pair'; readonly distortions: DistortionOptions };

/** Options of createLoader. */
export interface LoaderOptions<V extends LoaderViews = LoaderViews> {
  readonly batchSize: number;
  /** Seed of the epoch order and of the augmentation. */
  readonly seed: number;
  /** Geometric augmentation (same draw for both views), or null for none (evaluation). */
  readonly augment: GeometricOptions | null;
  readonly views: V;
  /** Shuffle every epoch (default true). */
  readonly shuffle?: boolean;
  /** Drop a last incomplete batch (default: same as shuffle). */
  readonly dropLast?: boolean;
  /** Normalisation of [0, 1] images (default ImageNet's). */
  readonly mean?: Rgb;
  readonly std?: Rgb;
  /** Worker threads (default min(4, cores - 1), at least 1); 0 decodes on the main thread. */
  readonly workers?: number;
  /** Batches requested ahead of the consumer (default 2 per worker, at least 2). */
  readonly prefetch?: number;
  /**
   * Bytes of decoded images and masks the workers keep between epochs (split across the workers; 0 =
   * decode every time). Default: 256 MiB for a shuffled (training) loader, where few labelled images are
   * then decoded once instead of at every step; 0 for an in-order one (evaluation reads each image once).
   */
  readonly cacheBytes?: number;
  /**
   * Iteration-based training on few images: when the dataset holds fewer images than one batch, an epoch
   * is several independent permutations of it back to back (each repeated image gets its own
   * augmentation draw), so K = 5 labelled images fill batches of 8. Default false (then such a loader
   * with dropLast is a ConfigError).
   */
  readonly repeatToFill?: boolean;
  /**
   * Data-parallel training: this process is rank `rank` of `worldSize`. Every rank plans the same epoch
   * (same seed) in global batches of batchSize x worldSize and takes its contiguous slice of each, so the
   * group sees every image once per epoch and one step equals a single-process step on the global batch.
   * A partial last global batch is dropped.
   */
  readonly shard?: { readonly rank: number; readonly worldSize: number };
}

/** Where a loader stands: the batch `batch` (0-based) of epoch `epoch`. */
export interface LoaderPosition {
  readonly epoch: number;
  readonly batch: number;
}

/** A batch: images [B,3,H,W] float32 (normalised), labels [B,H,W] int64 (255 = ignore). The caller owns the tensors. */
export interface Batch {
  readonly ids: readonly string[];
  readonly images: Tensor;
  readonly labels: Tensor;
  /** Frees the batch's tensors. */
  dispose(): void;
}

/** A pretraining batch: `images` is I, `distorted` is Î [B,3,H,W], same geometry and labels as I. */
export interface PairBatch extends Batch {
  readonly distorted: Tensor;
}

/** Batches of a dataset, epoch by epoch. Dispose it to stop its workers. */
export interface Loader<B extends Batch> {
  readonly batchesPerEpoch: number;
  /**
   * The batches of epoch `epoch` (0-based), in order, from batch `startBatch` (default 0; the batches
   * before it are skipped without being decoded, for an exact resume). Break out early at will;
   * remaining prefetches are discarded.
   */
  epoch(epoch: number, startBatch?: number): AsyncGenerator<B, void, undefined>;
  /** Endless batches, epoch after epoch, from `from` (default the start): iteration-based training. */
  stream(from?: LoaderPosition): AsyncGenerator<B, void, undefined>;
  /** Terminates the workers. Idempotent. */
  dispose(): Promise<void>;
}

function checkOptions(dataset: SegmentationDataset, options: LoaderOptions): void {
  const integer = (name: string, value: number | undefined, min: number): void => {
    if (value !== undefined && !(Number.isInteger(value) && value >= min)) {
      throw new ConfigError(`loader ${name}: expected an integer >= ${min}, got ${value}.`);
    }
  };
  integer('batchSize', options.batchSize, 1);
  integer('seed', options.seed, 0);
  integer('workers', options.workers, 0);
  integer('prefetch', options.prefetch, 1);
  integer('cacheBytes', options.cacheBytes, 0);
  if (dataset.length === 0) throw new ConfigError(`${dataset.name} holds no images; check the dataset root and split.`);
  if ((options.dropLast ?? options.shuffle ?? true) && options.batchSize > dataset.length && options.repeatToFill !== true) {
    throw new ConfigError(`loader batchSize ${options.batchSize} is larger than ${dataset.name} (${dataset.length} images) and dropLast is on, ` +
      'so an epoch would be empty. Lower the batch size, set dropLast: false, or repeatToFill: true.');
  }
}

/** How many permutations of the dataset make one epoch (more than 1 only with repeatToFill). */
function repetitions(length: number, options: LoaderOptions): number {
  return options.repeatToFill === true && length < options.batchSize ? Math.ceil(options.batchSize / length) : 1;
}

/**
 * The batches of one epoch as lists of (index, seed). Seeds of the first permutation are
 * (seed, epoch, index), as before repetition existed; repetition r > 0 adds r, so a repeated image
 * gets a fresh augmentation draw.
 */
function planEpoch(length: number, options: LoaderOptions, epoch: number): BatchItem[][] {
  const shuffle = options.shuffle ?? true;
  const items: BatchItem[] = [];
  for (let rep = 0; rep < repetitions(length, options); rep++) {
    const order = shuffle
      ? new Rng(rep === 0 ? deriveSeed(options.seed, epoch, 0xe90c) : deriveSeed(options.seed, epoch, 0xe90c, rep)).permutation(length)
      : Array.from({ length }, (_, i) => i);
    for (const index of order) items.push({ index, seed: rep === 0 ? deriveSeed(options.seed, epoch, index) : deriveSeed(options.seed, epoch, index, rep) });
  }
  const dropLast = options.dropLast ?? shuffle;
  const batches: BatchItem[][] = [];
  for (let start = 0; start < items.length; start += options.batchSize) {
    const batch = items.slice(start, start + options.batchSize);
    if (batch.length < options.batchSize && dropLast) break;
    batches.push(batch);
  }
  return batches;
}

/** planEpoch, or with options.shard this rank's slice of every global batch (see LoaderOptions.shard). */
function shardedEpoch(length: number, options: LoaderOptions, epoch: number): BatchItem[][] {
  if (options.shard === undefined || options.shard.worldSize === 1) return planEpoch(length, options, epoch);
  const { rank, worldSize } = options.shard;
  const global = planEpoch(length, { ...options, batchSize: options.batchSize * worldSize }, epoch);
  // A partial last global batch is dropped: ranks with unequal step counts would wait for each other.
  return global.filter((batch) => batch.length === options.batchSize * worldSize)
    .map((batch) => batch.slice(rank * options.batchSize, (rank + 1) * options.batchSize));
}

function toBatch(raw: RawBatch): PairBatch | Batch {
  const shape = [raw.size, 3, raw.height, raw.width];
  const images = tensor(raw.images, shape); // [B, 3, H, W] float32
  const labels = tensor(raw.labels, [raw.size, raw.height, raw.width]); // [B, H, W] int64
  if (raw.distorted === null) return { ids: raw.ids, images, labels, dispose: () => { images.dispose(); labels.dispose(); } };
  const distorted = tensor(raw.distorted, shape);
  return { ids: raw.ids, images, distorted, labels, dispose: () => { images.dispose(); distorted.dispose(); labels.dispose(); } };
}

/**
 * Batches built from `plans` in order, with `prefetch` of them requested ahead of the consumer (across
 * epoch boundaries when `plans` crosses them). Breaking out early discards the requests in flight.
 */
async function* prefetched(plans: Iterator<BatchItem[]>, run: (items: BatchItem[]) => Promise<RawBatch>,
  prefetch: number): AsyncGenerator<Batch | PairBatch, void, undefined> {
  const pending: Promise<RawBatch>[] = [];
  let exhausted = false;
  const fill = (): void => {
    while (!exhausted && pending.length < prefetch) {
      const plan = plans.next();
      if (plan.done === true) {
        exhausted = true;
        return;
      }
      const request = run(plan.value);
      request.catch(() => undefined); // rejections surface when awaited; never unhandled if abandoned
      pending.push(request);
    }
  };
  fill();
  while (pending.length > 0) {
    const raw = await (pending.shift() as Promise<RawBatch>);
    fill();
    yield toBatch(raw);
  }
}

/**
 * Creates a loader. File-backed datasets (the readers, subsetDataset) are decoded in worker threads;
 * other datasets on the main thread.
 * @throws ConfigError for invalid options.
 */
export function createLoader(dataset: SegmentationDataset, options: LoaderOptions<{ kind: 'single' }>): Loader<Batch>;
export function createLoader(dataset: SegmentationDataset, options: LoaderOptions<{ kind: 'pair'; distortions: DistortionOptions }>): Loader<PairBatch>;
export function createLoader(dataset: SegmentationDataset, options: LoaderOptions): Loader<Batch | PairBatch> {
  checkOptions(dataset, options);
  const recipe: BatchRecipe = {
    geometric: options.augment,
    distortions: options.views.kind === 'pair' ? options.views.distortions : null,
    mean: options.mean ?? IMAGENET_MEAN,
    std: options.std ?? IMAGENET_STD,
  };
  checkRecipe(recipe);
  const workers = dataset.descriptor === undefined ? 0 : options.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1));
  const cacheBytes = Math.floor((options.cacheBytes ?? ((options.shuffle ?? true) ? DEFAULT_LOADER_CACHE_BYTES : 0)) / Math.max(1, workers));
  const pool = workers > 0 && dataset.descriptor !== undefined ? new WorkerPool(dataset.descriptor, recipe, workers, startLoaderWorker, cacheBytes) : undefined;
  const run = (items: BatchItem[]): Promise<RawBatch> => (pool === undefined ? buildBatch(dataset, items, recipe) : pool.run(items));
  const prefetch = options.prefetch ?? Math.max(2, 2 * workers);
  /** The sample lists of epoch `index` from batch `startBatch` on. */
  function* epochPlans(index: number, startBatch: number): Generator<BatchItem[], void, undefined> {
    yield* shardedEpoch(dataset.length, options, index).slice(Math.max(0, startBatch));
  }
  const batchesPerEpoch = shardedEpoch(dataset.length, options, 0).length;
  return {
    batchesPerEpoch,
    epoch: (index: number, startBatch = 0) => prefetched(epochPlans(index, startBatch), run, prefetch),
    async *stream(from: LoaderPosition = { epoch: 0, batch: 0 }) {
      if (batchesPerEpoch === 0) throw new ConfigError(`${dataset.name}: an epoch holds no batch; lower the batch size or set repeatToFill: true.`);
      // One prefetch queue over every epoch: with few images an epoch is 2 or 3 batches, and a queue that
      // restarted at each epoch made every second or third step wait for a whole batch to be built.
      function* endless(): Generator<BatchItem[], void, undefined> {
        for (let index = from.epoch, start = from.batch; ; index++, start = 0) yield* epochPlans(index, start);
      }
      yield* prefetched(endless(), run, prefetch);
    },
    dispose: async () => pool?.dispose(),
  };
}
