/**
 * The dataset behind every on-disk layout: a list of image/mask files plus a lookup table from stored
 * mask values to class ids. Readers (camvid.ts, voc.ts, ...) only find the files and pick the table.
 */
import { IGNORE_INDEX } from '../augment/types.js';
import { ConfigError, DatasetError } from '../errors.js';
import { decodeImage, decodeLabelValues } from './image-io.js';
import { INVALID_LABEL } from './label-maps.js';
import type { FileDatasetDescriptor, Sample, SegmentationDataset } from './types.js';

/** A dataset of image/mask files described by a FileDatasetDescriptor. */
export class FileDataset implements SegmentationDataset {
  readonly descriptor: FileDatasetDescriptor;
  readonly ignoreIndex = IGNORE_INDEX;
  readonly ids: readonly string[];

  /** @throws DatasetError if the descriptor has no entries (an empty split). */
  constructor(descriptor: FileDatasetDescriptor) {
    if (descriptor.entries.length === 0) {
      throw new DatasetError(`${descriptor.name}: the split is empty (no image/mask pairs found). Check the root folder and the split name.`);
    }
    this.descriptor = descriptor;
    this.ids = descriptor.entries.map((entry) => entry.id);
  }

  get name(): string {
    return this.descriptor.name;
  }
  get classNames(): readonly string[] {
    return this.descriptor.classNames;
  }
  get colours(): FileDatasetDescriptor['colours'] {
    return this.descriptor.colours;
  }
  get numClasses(): number {
    return this.descriptor.classNames.length;
  }
  get length(): number {
    return this.descriptor.entries.length;
  }

  /** @throws DatasetError naming the file; ConfigError for an index outside 0..length-1. */
  async get(index: number): Promise<Sample> {
    const entry = this.descriptor.entries[index];
    if (entry === undefined) {
      throw new ConfigError(`${this.name}: sample index ${index} is outside 0..${this.length - 1} (${this.length} images); ` +
        'check the indices or split that selected it.');
    }
    const [image, stored] = await Promise.all([decodeImage(entry.image), decodeLabelValues(entry.mask)]);
    if (image.width !== stored.width || image.height !== stored.height) {
      throw new DatasetError(`mask is ${stored.width}x${stored.height} (WxH) but its image ${entry.image} is ${image.width}x${image.height}. ` +
        'Image and mask must have the same size; re-export the mask at the image size.', entry.mask);
    }
    const mask = mapLabels(stored.data, stored.width, this.descriptor, entry.mask);
    return { id: entry.id, width: image.width, height: image.height, image: image.data, mask };
  }
}

/** Stored mask values -> class ids through the lookup table; invalid values raise a DatasetError. */
function mapLabels(stored: Uint8Array, width: number, descriptor: FileDatasetDescriptor, file: string): Uint8Array {
  const table = descriptor.labelMap;
  const mask = new Uint8Array(stored.length);
  for (let i = 0; i < stored.length; i++) {
    const id = table[stored[i] as number] as number;
    if (id === INVALID_LABEL) {
      throw new DatasetError(`mask value ${stored[i]} at (x ${i % width}, y ${Math.floor(i / width)}) is not a class of ${descriptor.name}; ` +
        `expected ${descriptor.labelRange}. Check that the mask stores class ids (not colours) for this dataset.`, file);
    }
    mask[i] = id;
  }
  return mask;
}
