/**
 * Label-efficient splits: which K images of a training set keep their labels. A split is the first K ids
 * of one seeded permutation of all ids (sorted first, so the listing order on disk does not matter), so
 * for a fixed seed a smaller K is always a subset of a larger K (nested splits: a label-efficiency curve
 * then compares like with like). Split files hold one id per line, in permutation order.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { ConfigError, DatasetError } from '../errors.js';
import { Rng, deriveSeed } from '../augment/rng.js';
import { FileDataset } from './file-dataset.js';
import type { SegmentationDataset } from './types.js';

/** How many images to label: an absolute count, or a fraction of the dataset (rounded, at least 1). */
export type LabelledAmount = { readonly count: number } | { readonly fraction: number };

/** All ids in the seeded order from which every split of this seed takes its prefix. */
export function splitOrder(ids: readonly string[], seed: number): string[] {
  const sorted = [...ids].sort();
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1]) throw new DatasetError(`duplicate sample id "${sorted[i]}"; ids must be unique to define a split.`);
  }
  return new Rng(deriveSeed(seed, 0x5e11)).shuffle(sorted);
}

/**
 * Chooses the labelled subset: the first K ids of splitOrder(ids, seed).
 * @throws ConfigError for a count below 1 or a fraction outside (0, 1]; DatasetError if K exceeds the dataset or it is empty.
 */
export function chooseLabelled(ids: readonly string[], seed: number, amount: LabelledAmount): string[] {
  if (ids.length === 0) throw new DatasetError('cannot choose a split of an empty dataset. Check the dataset root and split.');
  let count: number;
  if ('count' in amount) {
    if (!Number.isInteger(amount.count) || amount.count < 1) throw new ConfigError(`labelled count: expected an integer >= 1, got ${amount.count}.`);
    count = amount.count;
  } else {
    if (!(amount.fraction > 0 && amount.fraction <= 1)) throw new ConfigError(`labelled fraction: expected a value in (0, 1], got ${amount.fraction}.`);
    count = Math.max(1, Math.round(amount.fraction * ids.length));
  }
  if (count > ids.length) {
    throw new DatasetError(`asked for ${count} labelled images but the dataset has only ${ids.length}. Use a count of at most ${ids.length}.`);
  }
  return splitOrder(ids, seed).slice(0, count);
}

/** Writes ids, one per line, atomically (temp file + rename). */
export async function writeSplitFile(file: string, ids: readonly string[]): Promise<void> {
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, ids.map((id) => `${id}\n`).join(''), 'utf8');
  await rename(temp, file);
}

/**
 * Reads a split file (one id per line; blank lines and # comments skipped).
 * @throws DatasetError naming the file if it is missing, empty or lists an id twice.
 */
export async function readSplitFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DatasetError(`cannot read split file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`, file);
  }
  const ids = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  if (ids.length === 0) throw new DatasetError('the split file is empty; expected one sample id per line.', file);
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new DatasetError(`id "${id}" is listed twice. Each id may appear once.`, file);
    seen.add(id);
  }
  return ids;
}

/**
 * The samples of `dataset` whose ids are in `ids`, in that order. File-backed datasets stay file-backed
 * (loader workers can rebuild them). `file` names the split file in errors.
 * @throws DatasetError for an id the dataset does not have, or no ids.
 */
export function subsetDataset(dataset: SegmentationDataset, ids: readonly string[], file?: string): SegmentationDataset {
  if (ids.length === 0) throw new DatasetError(`empty split for ${dataset.name}: expected at least one id.`, file);
  const indexById = new Map(dataset.ids.map((id, index) => [id, index]));
  const indices = ids.map((id) => {
    const index = indexById.get(id);
    if (index === undefined) throw new DatasetError(`id "${id}" is not in ${dataset.name}. Was the split made for another dataset or split?`, file);
    return index;
  });
  const name = `${dataset.name} [${ids.length} of ${dataset.length}]`;
  const descriptor = dataset.descriptor;
  if (descriptor !== undefined) {
    return new FileDataset({ ...descriptor, name, entries: indices.map((index) => descriptor.entries[index] as (typeof descriptor.entries)[number]) });
  }
  return {
    name,
    classNames: dataset.classNames,
    colours: dataset.colours,
    numClasses: dataset.numClasses,
    ignoreIndex: dataset.ignoreIndex,
    length: indices.length,
    ids: [...ids],
    get: (index: number) => dataset.get(indices[index] ?? -1),
  };
}
