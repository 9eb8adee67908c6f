/** One entry point for every supported layout, chosen by a discriminated union (serialisable, e.g. from the CLI). */
import { ConfigError } from '../errors.js';
import { openCamVid } from './camvid.js';
import { openCityscapes } from './cityscapes.js';
import type { FileDataset } from './file-dataset.js';
import { openFolder } from './folder.js';
import { openVoc, type VocMaskFolder } from './voc.js';

/** Where a dataset lives and which split to read. */
export type DatasetSource =
  | { readonly kind: 'camvid'; readonly root: string; readonly split: string }
  | { readonly kind: 'voc'; readonly root: string; readonly split: string; readonly masks?: VocMaskFolder }
  | { readonly kind: 'cityscapes'; readonly root: string; readonly split: string }
  | { readonly kind: 'folder'; readonly root: string; readonly split?: string };

/** The layout names, for CLI validation. */
export const DATASET_KINDS = ['camvid', 'voc', 'cityscapes', 'folder'] as const;

/**
 * Opens a dataset split; every file is checked to exist, none is decoded yet.
 * @throws DatasetError naming the missing or malformed file.
 */
export async function openDataset(source: DatasetSource): Promise<FileDataset> {
  switch (source.kind) {
    case 'camvid':
      return openCamVid(source.root, source.split);
    case 'voc':
      return openVoc(source.root, source.split, source.masks);
    case 'cityscapes':
      return openCityscapes(source.root, source.split);
    case 'folder':
      return openFolder(source.root, source.split);
    default: {
      const unreachable: never = source;
      throw new ConfigError(`unknown dataset kind in ${JSON.stringify(unreachable)}; expected one of ${DATASET_KINDS.join(', ')}.`);
    }
  }
}
