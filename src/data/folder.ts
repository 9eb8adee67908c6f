/**
 * A generic folder: `images/<stem>.<png|jpg|...>`, `masks/<stem>.png` (class ids, greyscale or palette
 * PNG; 255 = ignore) and `classes.json`, either a list of names or `{ "classes": [{ "name", "colour"? }] }`.
 * A split selects the ids listed in `<root>/<split>.txt` (one id per line, the split-file format of
 * splits.ts); without one, every image is used.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Rgb } from '../augment/geometric.js';
import { DatasetError } from '../errors.js';
import { FileDataset } from './file-dataset.js';
import { identityLabelMap, vocPalette } from './label-maps.js';
import { IMAGE_EXTENSIONS, checkEntries, isDirectory, isFile, listFiles, stem } from './layout.js';
import { readSplitFile } from './splits.js';
import type { FileEntry } from './types.js';

const channel = z.number().int().min(0).max(255);
const classEntry = z.object({ name: z.string().min(1), colour: z.tuple([channel, channel, channel]).optional() });
const classesSchema = z.union([
  z.array(z.string().min(1)).min(1).max(255),
  z.object({ classes: z.array(classEntry).min(1).max(255) }),
]);

/** Class names and colours from classes.json (colours default to the VOC palette). */
async function readClasses(file: string): Promise<{ names: string[]; colours: Rgb[] }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new DatasetError(`cannot read classes.json (${(error as Error).message}). Expected e.g. ["background", "cat"].`, file);
  }
  const result = classesSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new DatasetError(`invalid classes.json at ${issue?.path.join('.') || 'top level'}: ${issue?.message}. ` +
      'Expected a list of 1..255 class names, or { "classes": [{ "name": "cat", "colour": [r, g, b] }] }.', file);
  }
  const entries = Array.isArray(result.data) ? result.data.map((name) => ({ name, colour: undefined })) : result.data.classes;
  const palette = vocPalette();
  return {
    names: entries.map((entry) => entry.name),
    colours: entries.map((entry, id) => entry.colour ?? [palette[id * 3] ?? 0, palette[id * 3 + 1] ?? 0, palette[id * 3 + 2] ?? 0]),
  };
}

/**
 * Opens a generic folder dataset; `split` (optional) names `<root>/<split>.txt`.
 * @throws DatasetError for a missing images/ folder or classes.json, an image without a mask, an id in the split file without an image, or an empty split.
 */
export async function openFolder(root: string, split?: string): Promise<FileDataset> {
  const classesFile = join(root, 'classes.json');
  if (!(await isDirectory(join(root, 'images'))) || !(await isFile(classesFile))) {
    throw new DatasetError('expected a folder dataset: images/, masks/ and classes.json. Point --root at the folder that holds them.', root);
  }
  const classes = await readClasses(classesFile);
  let entries: FileEntry[] = (await listFiles(join(root, 'images'), IMAGE_EXTENSIONS)).map((name) => ({
    id: stem(name), image: join(root, 'images', name), mask: join(root, 'masks', `${stem(name)}.png`),
  }));
  if (split !== undefined) {
    const splitFile = join(root, `${split}.txt`);
    const ids = await readSplitFile(splitFile);
    const byId = new Map(entries.map((entry) => [entry.id, entry]));
    entries = ids.map((id) => {
      const entry = byId.get(id);
      if (entry === undefined) throw new DatasetError(`id "${id}" has no image in ${join(root, 'images')}. Remove it from the split file or add the image.`, splitFile);
      return entry;
    });
  }
  await checkEntries(entries);
  return new FileDataset({
    name: `folder ${split ?? 'all'} (${root})`,
    classNames: classes.names,
    colours: classes.colours,
    labelMap: identityLabelMap(classes.names.length),
    labelRange: `0..${classes.names.length - 1} or 255 (ignore)`,
    entries,
  });
}
