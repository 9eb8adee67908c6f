/**
 * Cityscapes: `leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png` with masks
 * `gtFine/<split>/<city>/<stem>_gtFine_labelIds.png`. The 34 labelIds are mapped to the 19 train ids
 * (road = labelId 7 -> 0, ..., bicycle = 33 -> 18); every other labelId becomes 255 (ignore).
 */
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { DatasetError } from '../errors.js';
import { FileDataset } from './file-dataset.js';
import { CITYSCAPES_CLASSES, cityscapesLabelMap } from './label-maps.js';
import { checkEntries, isDirectory, listFiles } from './layout.js';
import type { FileEntry } from './types.js';

const IMAGE_SUFFIX = '_leftImg8bit.png';
const MASK_SUFFIX = '_gtFine_labelIds.png';

/**
 * Opens split `split` (train, val, test) of a Cityscapes root (the folder holding leftImg8bit/ and gtFine/).
 * @throws DatasetError if the split folder is missing, an image has no labelIds mask, or the split is empty.
 */
export async function openCityscapes(root: string, split: string): Promise<FileDataset> {
  const imageRoot = join(root, 'leftImg8bit', split);
  if (!(await isDirectory(imageRoot))) {
    throw new DatasetError(`Cityscapes split "${split}" not found: expected the folder ${imageRoot}. ` +
      'Point --root at the folder that holds leftImg8bit/ and gtFine/, and use --split train, val or test.', root);
  }
  const cities = (await readdir(imageRoot, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  const entries: FileEntry[] = [];
  for (const city of cities) {
    for (const name of await listFiles(join(imageRoot, city), ['.png'])) {
      if (!name.endsWith(IMAGE_SUFFIX)) continue;
      const id = name.slice(0, -IMAGE_SUFFIX.length);
      entries.push({ id, image: join(imageRoot, city, name), mask: join(root, 'gtFine', split, city, `${id}${MASK_SUFFIX}`) });
    }
  }
  await checkEntries(entries);
  return new FileDataset({
    name: `cityscapes ${split} (${root})`,
    classNames: CITYSCAPES_CLASSES.names,
    colours: CITYSCAPES_CLASSES.colours,
    labelMap: cityscapesLabelMap(),
    labelRange: 'a Cityscapes labelId 0..33 or 255',
    entries,
  });
}
