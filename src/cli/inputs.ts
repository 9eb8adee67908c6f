/**
 * The inputs and outputs of `contraseg predict`: each input is an image file, a folder (its image files,
 * not recursive) or a glob pattern; each image gets `<stem>.png` (the coloured mask) and
 * `<stem>-overlay.png` in the output folder, with stems made distinct when they clash.
 */
import { stat } from 'node:fs/promises';
import { dirname, extname, join, parse, resolve, sep } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { IMAGE_EXTENSIONS, listFiles } from '../data/layout.js';
import { ConfigError } from '../errors.js';

/** Where the predictions for one input image go (absolute paths). */
export interface PredictionOutputs {
  readonly input: string;
  /** `<stem>.png`: the coloured class mask. */
  readonly mask: string;
  /** `<stem>-overlay.png`: the colours blended over the image. */
  readonly overlay: string;
}

const EXTENSION_LIST = IMAGE_EXTENSIONS.join(' ');

function isImageFile(file: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(file).toLowerCase());
}

/**
 * Expands `inputs` into a sorted list of distinct absolute image paths. An existing path is a file
 * (which must have one of the datasets' `IMAGE_EXTENSIONS`) or a folder (its image files, hidden files
 * skipped, not recursive); any other input with glob syntax is a pattern relative to `cwd`, standing
 * for the image files it matches.
 * @throws ConfigError naming the input if it does not exist, is not an image, or yields no image.
 */
export async function expandInputs(inputs: readonly string[], cwd = process.cwd()): Promise<string[]> {
  if (inputs.length === 0) throw new ConfigError('predict needs at least one input: an image file, a folder of images or a glob pattern such as "photos/*.jpg".');
  const images = new Set<string>();
  for (const input of inputs) {
    for (const image of await expandInput(input, cwd)) images.add(image);
  }
  return [...images].sort();
}

async function expandInput(input: string, cwd: string): Promise<string[]> {
  const path = resolve(cwd, input);
  const stats = await stat(path).catch(() => undefined);
  if (stats?.isDirectory()) {
    // Hidden files skipped: e.g. macOS's "._photo.jpg" resource forks are not images.
    const files = (await listFiles(path, IMAGE_EXTENSIONS)).filter((name) => !name.startsWith('.')).map((name) => join(path, name));
    if (files.length === 0) {
      throw new ConfigError(`predict input "${input}" is a folder without image files (${EXTENSION_LIST}); folders are not searched recursively, ` +
        `so for subfolders pass a pattern such as "${join(input, '**', '*.jpg')}".`);
    }
    return files;
  }
  if (stats !== undefined) {
    if (!isImageFile(path)) throw new ConfigError(`predict input "${input}" is not an image file: expected one of ${EXTENSION_LIST}.`);
    return [path];
  }
  if (!isDynamicPattern(input)) throw new ConfigError(`predict input "${input}" does not exist (looked for ${path}).`);
  const matches = await glob(input, { cwd, absolute: true, onlyFiles: true, expandDirectories: false });
  const files = matches.map((match) => resolve(match)).filter(isImageFile);
  if (files.length === 0) {
    throw new ConfigError(`predict input "${input}": no image file (${EXTENSION_LIST}) matches this pattern in ${cwd}` +
      (matches.length > 0 ? ' (it matches only non-image files).' : '.'));
  }
  return files;
}

/**
 * The output files for each input image (as from {@link expandInputs}), in input order, in `outDir`. Images whose stems clash
 * (case-insensitively) are named by their folders below the clashing files' common folder, e.g.
 * `train_001.png` and `val_001.png`, and by their extension when in the same folder (`a_png.png`,
 * `a_jpg.png`); a name still taken, by an earlier output, gets `-2`, `-3`, ...
 * @throws ConfigError if an output would overwrite one of the inputs.
 */
export function outputPaths(inputs: readonly string[], outDir: string): PredictionOutputs[] {
  const stems = distinctStems(inputs.map((input) => resolve(input)));
  const taken = new Set<string>();
  const outputs = inputs.map((input, index): PredictionOutputs => {
    const base = stems[index] as string;
    let stem = base;
    for (let suffix = 2; taken.has(`${stem}.png`.toLowerCase()) || taken.has(`${stem}-overlay.png`.toLowerCase()); suffix++) stem = `${base}-${suffix}`;
    taken.add(`${stem}.png`.toLowerCase()).add(`${stem}-overlay.png`.toLowerCase());
    return { input: resolve(input), mask: resolve(outDir, `${stem}.png`), overlay: resolve(outDir, `${stem}-overlay.png`) };
  });
  const inputSet = new Set(outputs.map((output) => output.input));
  for (const output of outputs) {
    const clash = [output.mask, output.overlay].find((file) => inputSet.has(file));
    if (clash !== undefined) throw new ConfigError(`predict would overwrite the input ${clash} with a prediction. Pass an output folder (--out) that holds none of the inputs.`);
  }
  return outputs;
}

/** The stem of each file, or a folder-qualified name where stems clash (absolute `files`). */
function distinctStems(files: readonly string[]): string[] {
  const stems = files.map((file) => parse(file).name);
  const clashes = new Map<string, number[]>();
  stems.forEach((stem, index) => clashes.set(stem.toLowerCase(), [...(clashes.get(stem.toLowerCase()) ?? []), index]));
  for (const indices of clashes.values()) {
    if (indices.length < 2) continue;
    const folders = indices.map((index) => dirname(files[index] as string).split(sep));
    const common = commonPrefixLength(folders);
    indices.forEach((index, position) => {
      const file = files[index] as string;
      const sameFolderTwin = indices.some((other) => other !== index && dirname(files[other] as string) === dirname(file));
      const name = sameFolderTwin ? `${parse(file).name}_${extname(file).slice(1)}` : parse(file).name;
      stems[index] = [...(folders[position] as string[]).slice(common), name].join('_');
    });
  }
  return stems;
}

function commonPrefixLength(paths: readonly string[][]): number {
  const first = paths[0] ?? [];
  let length = 0;
  while (length < first.length && paths.every((parts) => parts[length] === first[length])) length++;
  return length;
}
