import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { temporaryFolder, writeImageFile } from '../data/fixtures.js';
import { ConfigError } from '../errors.js';
import { expandInputs, outputPaths } from './inputs.js';

let folder: { path: string; remove: () => Promise<void> };
let root: string;
const PIXELS = new Uint8Array(2 * 2 * 3).fill(128);

before(async () => {
  folder = await temporaryFolder('contraseg-inputs-');
  root = folder.path;
  for (const file of ['photos/b.png', 'photos/a.JPG', 'photos/c.webp', 'photos/.hidden.png', 'photos/sub/d.png', 'other/b.png']) {
    await writeImageFile(join(root, file), PIXELS, 2, 2);
  }
  await writeFile(join(root, 'photos', 'notes.txt'), 'not an image');
  await mkdir(join(root, 'photos', 'folder.png'));
  await mkdir(join(root, 'empty'));
  await writeFile(join(root, 'empty', 'readme.md'), '');
});
after(() => folder.remove());

function assertConfigError(message: RegExp): (error: unknown) => boolean {
  return (error: unknown) => error instanceof ConfigError && message.test(error.message);
}

test('expandInputs: a folder gives its image files, sorted, without hidden files, other files, subfolders or folders named like images', async () => {
  assert.deepEqual(await expandInputs(['photos'], root), ['a.JPG', 'b.png', 'c.webp'].map((name) => join(root, 'photos', name)));
});

test('expandInputs: files, folders and glob patterns together, absolute, sorted and de-duplicated', async () => {
  assert.deepEqual(await expandInputs(['photos/b.png', join(root, 'photos'), '**/b.png', 'photos/sub/*.png', 'photos/./c.webp'], root), [
    join(root, 'other', 'b.png'),
    join(root, 'photos', 'a.JPG'),
    join(root, 'photos', 'b.png'),
    join(root, 'photos', 'c.webp'),
    join(root, 'photos', 'sub', 'd.png'),
  ]);
});

test('expandInputs: a missing path, a folder without images, a non-image file, an unmatched pattern or no input is a ConfigError naming it', async () => {
  await assert.rejects(expandInputs(['photos/missing.png'], root),
    assertConfigError(new RegExp(`^predict input "photos/missing.png" does not exist \\(looked for ${join(root, 'photos', 'missing.png')}\\)\\.$`)));
  await assert.rejects(expandInputs(['empty'], root),
    assertConfigError(/^predict input "empty" is a folder without image files \(\.png .* \.bmp\); folders are not searched recursively, so for subfolders pass a pattern such as "empty\/\*\*\/\*\.jpg"\.$/));
  await assert.rejects(expandInputs(['photos/notes.txt'], root), assertConfigError(/^predict input "photos\/notes.txt" is not an image file: expected one of \.png \.jpg/));
  await assert.rejects(expandInputs(['photos/*.tif'], root), assertConfigError(/^predict input "photos\/\*\.tif": no image file .* matches this pattern in .*\.$/));
  await assert.rejects(expandInputs(['photos/b.png', '*/*.txt'], root),
    assertConfigError(/^predict input "\*\/\*\.txt": no image file \(\.png \.jpg \.jpeg \.webp \.tif \.tiff \.bmp\) matches this pattern in .* \(it matches only non-image files\)\.$/));
  await assert.rejects(expandInputs([], root), assertConfigError(/^predict needs at least one input/));
});

test('outputPaths: <stem>.png and <stem>-overlay.png in the output folder, in input order', () => {
  assert.deepEqual(outputPaths(['/data/x/b.png', '/data/x/a.jpg'], '/out'), [
    { input: '/data/x/b.png', mask: '/out/b.png', overlay: '/out/b-overlay.png' },
    { input: '/data/x/a.jpg', mask: '/out/a.png', overlay: '/out/a-overlay.png' },
  ]);
});

test('outputPaths: clashing stems are named by their folders below the common one, or by extension in the same folder', () => {
  const names = (inputs: string[]): string[][] => outputPaths(inputs, '/out').map((output) => [output.mask, output.overlay]);
  assert.deepEqual(names(['/data/train/001.png', '/data/val/001.png', '/data/val/deep/001.jpg', '/data/val/002.png']), [
    ['/out/train_001.png', '/out/train_001-overlay.png'],
    ['/out/val_001.png', '/out/val_001-overlay.png'],
    ['/out/val_deep_001.png', '/out/val_deep_001-overlay.png'],
    ['/out/002.png', '/out/002-overlay.png'],
  ]);
  assert.deepEqual(names(['/data/A.png', '/data/a.jpg', '/data/b/a.png']), [
    ['/out/A_png.png', '/out/A_png-overlay.png'],
    ['/out/a_jpg.png', '/out/a_jpg-overlay.png'],
    ['/out/b_a.png', '/out/b_a-overlay.png'],
  ]);
});

test('outputPaths: a name already taken by an earlier output gets a counter; overwriting an input is refused', () => {
  assert.deepEqual(outputPaths(['/data/x.png', '/data/x-overlay.png'], '/out').map((output) => [output.mask, output.overlay]), [
    ['/out/x.png', '/out/x-overlay.png'],
    ['/out/x-overlay-2.png', '/out/x-overlay-2-overlay.png'],
  ]);
  assert.throws(() => outputPaths(['/data/x.png'], '/data'),
    assertConfigError(/^predict would overwrite the input \/data\/x\.png with a prediction\. Pass an output folder \(--out\) that holds none of the inputs\.$/));
});
