/** `contraseg info`: image count, image sizes and class pixel shares of a dataset split. */
import { z } from 'zod';
import { DATASET_KINDS, openDataset, type DatasetSource } from '../data/open-dataset.js';
import { datasetStats, type DatasetStats } from '../data/stats.js';
import { parseOptions, type CliIO, type OptionSpec } from './args.js';

/** Usage text of `contraseg info`. */
export const INFO_USAGE = `usage: contraseg info --dataset <${DATASET_KINDS.join('|')}> --root DIR [--split S] [--json]

Reads every image and mask of the split (bad files are reported as in training) and prints the
image count, the image sizes and the share of all pixels of every class, ignore (255) apart.
  --dataset   layout of the folder: ${DATASET_KINDS.join(', ')}
  --root      dataset folder (CamVid: the folder with train.txt; VOC: VOC2012; Cityscapes: the one with leftImg8bit/)
  --split     train, val, test, ... (required except for folder datasets, where it names <root>/<split>.txt)
  --json      print one JSON object { images, sizes, classes: [{ name, id, fraction, pixels }], ignoreFraction }`;

const spec: OptionSpec = {
  dataset: { type: 'string' },
  root: { type: 'string' },
  split: { type: 'string' },
  json: { type: 'boolean' },
};

const schema = z.object({
  dataset: z.enum(DATASET_KINDS, { errorMap: () => ({ message: `expected one of ${DATASET_KINDS.join(', ')}` }) }),
  root: z.string({ required_error: 'required (the dataset folder)' }).min(1),
  split: z.string().min(1).optional(),
  json: z.boolean().default(false),
}).refine((options) => options.dataset === 'folder' || options.split !== undefined, {
  message: 'required for this dataset (e.g. --split train)', path: ['split'],
});

/** Validated options of `contraseg info`. */
export interface InfoOptions {
  readonly source: DatasetSource;
  readonly json: boolean;
}

/** @throws ConfigError for missing or invalid options. */
export function parseInfoArgs(argv: readonly string[]): InfoOptions {
  const options = parseOptions('info', argv, spec, schema);
  const source: DatasetSource = options.dataset === 'folder'
    ? { kind: 'folder', root: options.root, split: options.split }
    : { kind: options.dataset, root: options.root, split: options.split as string };
  return { source, json: options.json };
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(2)}%`;
}

function formatStats(name: string, stats: DatasetStats): string {
  const width = Math.max(12, ...stats.classes.map((share) => share.name.length)) + 2;
  const lines = [`${name}: ${stats.images} images`,
    `sizes (WxH): ${stats.sizes.map((size) => `${size.width}x${size.height} (${size.count})`).join(', ')}`, '',
    `${'class'.padEnd(width)}${'id'.padStart(4)}${'pixels'.padStart(14)}${'share'.padStart(9)}`];
  for (const share of stats.classes) {
    lines.push(`${share.name.padEnd(width)}${String(share.id).padStart(4)}${String(share.pixels).padStart(14)}${percent(share.fraction).padStart(9)}`);
  }
  lines.push(`${'ignore'.padEnd(width)}${'255'.padStart(4)}${String(stats.ignorePixels).padStart(14)}${percent(stats.ignoreFraction).padStart(9)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Runs `contraseg info`.
 * @throws DatasetError naming the first bad file.
 */
export async function runInfo(options: InfoOptions, io: CliIO): Promise<void> {
  const dataset = await openDataset(options.source);
  const stats = await datasetStats(dataset);
  if (!options.json) {
    io.stdout(formatStats(dataset.name, stats));
    return;
  }
  io.stdout(`${JSON.stringify({
    images: stats.images,
    sizes: stats.sizes,
    classes: stats.classes.map((share) => ({ name: share.name, id: share.id, fraction: share.fraction, pixels: share.pixels })),
    ignoreFraction: stats.ignoreFraction,
  })}\n`);
}
