/**
 * How many label pixels each CamVid class keeps when labels are taken at a stride (nearest neighbour, as
 * downsampleLabels does at scale 1): per class, its share of the labelled pixels, the images it appears in, and
 * its mean label pixels per image at each stride. For reading why small classes fare as they do in stage 1
 * (docs/results/NOTES.md, session 10).
 *   node --import tsx scripts/dev/class-pixels.ts <split.txt of image ids> [data root, default ../shared/data/camvid_180x240]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { CAMVID_CLASSES } from '../../src/data/label-maps.js';

const [splitFile, root = join(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'camvid_180x240')] = process.argv.slice(2);
if (splitFile === undefined) {
  console.error('usage: class-pixels.ts <split.txt> [camvid root]');
  process.exit(2);
}
const CLASSES = CAMVID_CLASSES.names;
const STRIDES = [1, 4, 8];
const ids = readFileSync(splitFile, 'utf8').split('\n').map((line) => line.trim()).filter(Boolean);
const pixels = STRIDES.map(() => new Array<number>(CLASSES.length).fill(0));
const images = STRIDES.map(() => new Array<number>(CLASSES.length).fill(0));
for (const id of ids) {
  const { data, info } = await sharp(join(root, 'trainannot', `${id}.png`)).raw().toBuffer({ resolveWithObject: true });
  STRIDES.forEach((stride, s) => {
    const present = new Set<number>();
    for (let y = 0; y < info.height; y += stride) {
      for (let x = 0; x < info.width; x += stride) {
        const label = data[(y * info.width + x) * info.channels] as number;
        if (label < CLASSES.length) { (pixels[s] as number[])[label]! += 1; present.add(label); }
      }
    }
    for (const label of present) (images[s] as number[])[label]! += 1;
  });
}
const total = (pixels[0] as number[]).reduce((sum, count) => sum + count, 0);
console.log(`${ids.length} images; label pixels per image at strides ${STRIDES.join(', ')} (images the class appears in)`);
CLASSES.forEach((name, c) => {
  const share = (100 * (pixels[0] as number[])[c]!) / total;
  const cols = STRIDES.map((_stride, s) => `${((pixels[s] as number[])[c]! / ids.length).toFixed(1).padStart(7)} (${(images[s] as number[])[c]})`);
  console.log(`${name.padEnd(11)} ${share.toFixed(2).padStart(5)}%  ${cols.join('  ')}`);
});
