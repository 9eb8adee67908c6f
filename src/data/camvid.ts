/**
 * CamVid in SegNet's layout: `train/ trainannot/ val/ valannot/ test/ testannot/` plus `train.txt`,
 * `val.txt`, `test.txt` listing "image mask" pairs. SegNet's own lists hold absolute
 * `/SegNet/CamVid/...` paths (the prefix up to `CamVid/` is stripped); relative paths are taken from the
 * root. Without a list the split folders are scanned. 11 classes; stored 11 (void) becomes 255.
 */
import { isAbsolute, join } from 'node:path';
import { DatasetError } from '../errors.js';
import { FileDataset } from './file-dataset.js';
import { CAMVID_CLASSES, CAMVID_VOID, identityLabelMap } from './label-maps.js';
import { IMAGE_EXTENSIONS, checkEntries, isDirectory, isFile, listFiles, readListLines, stem } from './layout.js';
import type { FileEntry } from './types.js';

/** A list-file path made relative to the dataset root. */
function rootRelative(path: string, root: string): string {
  if (!isAbsolute(path)) return join(root, path);
  const marker = path.lastIndexOf('/CamVid/');
  return marker >= 0 ? join(root, path.slice(marker + '/CamVid/'.length)) : path;
}

async function entriesFromList(root: string, list: string): Promise<FileEntry[]> {
  const lines = await readListLines(list);
  return lines.map(({ line, tokens }) => {
    if (tokens.length !== 2) {
      throw new DatasetError(`line ${line}: expected "image mask" (two paths), got ${tokens.length} field(s).`, list);
    }
    const image = rootRelative(tokens[0] as string, root);
    return { id: stem(image), image, mask: rootRelative(tokens[1] as string, root) };
  });
}

async function entriesFromFolders(root: string, split: string): Promise<FileEntry[]> {
  const names = await listFiles(join(root, split), IMAGE_EXTENSIONS);
  return names.map((name) => ({ id: stem(name), image: join(root, split, name), mask: join(root, `${split}annot`, `${stem(name)}.png`) }));
}

/**
 * Opens split `split` (train, val, test) of a CamVid root.
 * @throws DatasetError if neither `<split>.txt` nor `<split>/` exists, a listed file or a mask is missing, or the split is empty.
 */
export async function openCamVid(root: string, split: string): Promise<FileDataset> {
  const list = join(root, `${split}.txt`);
  const hasList = await isFile(list);
  let entries: FileEntry[];
  if (hasList) {
    entries = await entriesFromList(root, list);
  } else if (await isDirectory(join(root, split))) {
    entries = await entriesFromFolders(root, split);
  } else {
    throw new DatasetError(`CamVid split "${split}" not found: expected a list file ${list} or a folder ${join(root, split)}. ` +
      'Use --split train, val or test, and --root pointing at the folder that holds train.txt.', root);
  }
  await checkEntries(entries, hasList ? list : undefined);
  return new FileDataset({
    name: `camvid ${split} (${root})`,
    classNames: CAMVID_CLASSES.names,
    colours: CAMVID_CLASSES.colours,
    labelMap: identityLabelMap(CAMVID_CLASSES.names.length, [CAMVID_VOID]),
    labelRange: `0..${CAMVID_CLASSES.names.length - 1} or ${CAMVID_VOID} (void)`,
    entries,
  });
}
