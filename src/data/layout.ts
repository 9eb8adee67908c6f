/** File-system helpers shared by the dataset readers. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { DatasetError } from '../errors.js';
import type { FileEntry } from './types.js';

/** Image file extensions the readers accept (sharp decodes all of them). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.bmp'];

/** True if `path` exists and is a regular file. */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** True if `path` exists and is a directory. */
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** File name without its directory and last extension. */
export function stem(path: string): string {
  return basename(path, extname(path));
}

/** Sorted names of the files in `dir` whose extension (lower-cased) is in `extensions`. */
export async function listFiles(dir: string, extensions: readonly string[]): Promise<string[]> {
  const names = await readdir(dir, { withFileTypes: true });
  return names.filter((entry) => entry.isFile() && extensions.includes(extname(entry.name).toLowerCase()))
    .map((entry) => entry.name).sort();
}

/** Non-empty, non-comment lines of a text list file, each with its 1-based line number. */
export async function readListLines(file: string): Promise<{ line: number; tokens: string[] }[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DatasetError(`cannot read list file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`, file);
  }
  return text.split(/\r?\n/).map((content, i) => ({ line: i + 1, tokens: content.trim().split(/\s+/) }))
    .filter(({ tokens }) => tokens[0] !== '' && !(tokens[0] as string).startsWith('#'));
}

/**
 * Checks that every image and mask exists. A missing mask is reported with its image, the most common
 * layout mistake; `source` (a list file) is named when the pairs came from one.
 * @throws DatasetError naming the first missing file.
 */
export async function checkEntries(entries: readonly FileEntry[], source?: string): Promise<void> {
  const from = source === undefined ? '' : ` (listed in ${source})`;
  const results = await Promise.all(entries.map(async (entry) => [await isFile(entry.image), await isFile(entry.mask)] as const));
  results.forEach(([image, mask], i) => {
    const entry = entries[i] as FileEntry;
    if (!image) throw new DatasetError(`image file not found${from}. Check the dataset root and the split list.`, entry.image);
    if (!mask) {
      throw new DatasetError(`missing mask for image ${entry.image}${from}: expected it at this path. ` +
        'Every image needs a mask with the same name in the mask folder.', entry.mask);
    }
  });
}
