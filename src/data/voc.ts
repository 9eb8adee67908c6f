/**
 * PASCAL VOC 2012 segmentation: `JPEGImages/<id>.jpg`, `SegmentationClass/<id>.png` (palette PNGs whose
 * indices are the class ids), `ImageSets/Segmentation/<split>.txt` (one id per line). The SBD-augmented
 * variant keeps greyscale class-id PNGs in `SegmentationClassAug/` and a `train_aug` list (in
 * `ImageSets/Segmentation/` or `ImageSets/SegmentationAug/`); list lines may also be "image mask" paths
 * relative to the root. 21 classes, stored 255 (object boundaries) is ignore.
 */
import { join } from 'node:path';
import { DatasetError } from '../errors.js';
import { FileDataset } from './file-dataset.js';
import { VOC_CLASSES, identityLabelMap } from './label-maps.js';
import { checkEntries, isDirectory, isFile, readListLines, stem } from './layout.js';
import type { FileEntry } from './types.js';

/** Folder of the masks: the original palette PNGs or SBD's augmented set. */
export type VocMaskFolder = 'SegmentationClass' | 'SegmentationClassAug';

/** The VOC2012 folder: `root` itself, or `root/VOC2012`, or `root/VOCdevkit/VOC2012`. */
async function vocFolder(root: string): Promise<string> {
  for (const candidate of [root, join(root, 'VOC2012'), join(root, 'VOCdevkit', 'VOC2012')]) {
    if (await isDirectory(join(candidate, 'JPEGImages'))) return candidate;
  }
  throw new DatasetError('no JPEGImages/ folder here, in VOC2012/ or in VOCdevkit/VOC2012/. Point --root at the VOC2012 folder.', root);
}

async function listFile(folder: string, split: string): Promise<string> {
  const candidates = [join(folder, 'ImageSets', 'Segmentation', `${split}.txt`), join(folder, 'ImageSets', 'SegmentationAug', `${split}.txt`)];
  for (const candidate of candidates) if (await isFile(candidate)) return candidate;
  throw new DatasetError(`VOC split "${split}" not found: expected ${candidates.join(' or ')}. Use train, val, trainval or train_aug.`, folder);
}

/**
 * Opens split `split` of a VOC 2012 root. `masks` defaults to SegmentationClassAug for splits whose name
 * contains "aug", else SegmentationClass.
 * @throws DatasetError for a missing list file, image or mask, a malformed list line, or an empty split.
 */
export async function openVoc(root: string, split: string, masks?: VocMaskFolder): Promise<FileDataset> {
  const folder = await vocFolder(root);
  const list = await listFile(folder, split);
  const maskFolder = masks ?? (/aug/i.test(split) ? 'SegmentationClassAug' : 'SegmentationClass');
  const entries: FileEntry[] = (await readListLines(list)).map(({ line, tokens }) => {
    if (tokens.length === 1) {
      const id = tokens[0] as string;
      return { id, image: join(folder, 'JPEGImages', `${id}.jpg`), mask: join(folder, maskFolder, `${id}.png`) };
    }
    if (tokens.length === 2) {
      const image = join(folder, (tokens[0] as string).replace(/^\/+/, ''));
      return { id: stem(image), image, mask: join(folder, (tokens[1] as string).replace(/^\/+/, '')) };
    }
    throw new DatasetError(`line ${line}: expected an image id or "image mask" paths, got ${tokens.length} fields.`, list);
  });
  await checkEntries(entries, list);
  return new FileDataset({
    name: `voc ${split} (${folder})`,
    classNames: VOC_CLASSES.names,
    colours: VOC_CLASSES.colours,
    labelMap: identityLabelMap(VOC_CLASSES.names.length),
    labelRange: `0..${VOC_CLASSES.names.length - 1} or 255 (boundary)`,
    entries,
  });
}
