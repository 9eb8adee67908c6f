/**
 * Class tables of the supported datasets and the lookup tables that turn stored mask values into
 * training class ids (0..numClasses-1, or 255 = ignore).
 */
import { IGNORE_INDEX } from '../augment/types.js';
import type { Rgb } from '../augment/geometric.js';

/** Value of a label lookup table for a stored value that is neither a class nor ignore (an error). */
export const INVALID_LABEL = -1;

/** Names and display colours of a dataset's classes, index = class id. */
export interface ClassTable {
  readonly names: readonly string[];
  readonly colours: readonly Rgb[];
}

/** CamVid, SegNet's 11-class version (Brostow et al. 2009; Badrinarayanan et al. 2017); stored 11 = void. */
export const CAMVID_CLASSES: ClassTable = {
  names: ['Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree', 'SignSymbol', 'Fence', 'Car', 'Pedestrian', 'Bicyclist'],
  colours: [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0],
    [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192]],
};
/** CamVid's stored void value, mapped to ignore. */
export const CAMVID_VOID = 11;

/** PASCAL VOC 2012's colour map (VOCdevkit's labelcolormap.m): the bits of the index spread over R, G, B. */
export function vocPalette(): Uint8Array {
  const palette = new Uint8Array(256 * 3);
  for (let index = 0; index < 256; index++) {
    let bits = index;
    let r = 0;
    let g = 0;
    let b = 0;
    for (let j = 0; j < 8; j++) {
      r |= (bits & 1) << (7 - j);
      g |= ((bits >> 1) & 1) << (7 - j);
      b |= ((bits >> 2) & 1) << (7 - j);
      bits >>= 3;
    }
    palette.set([r, g, b], index * 3);
  }
  return palette;
}

const VOC_NAMES = ['background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor'];
/** PASCAL VOC 2012: background + 20 object classes; stored 255 = boundary / difficult (ignore). */
export const VOC_CLASSES: ClassTable = {
  names: VOC_NAMES,
  colours: paletteColours(vocPalette(), VOC_NAMES.length),
};

function paletteColours(palette: Uint8Array, count: number): Rgb[] {
  return Array.from({ length: count }, (_, id) => [palette[id * 3] ?? 0, palette[id * 3 + 1] ?? 0, palette[id * 3 + 2] ?? 0] as const);
}

/** Cityscapes' 19 evaluated classes with their train ids and colours (cityscapesScripts labels.py). */
export const CITYSCAPES_CLASSES: ClassTable = {
  names: ['road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign', 'vegetation', 'terrain',
    'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle'],
  colours: [[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153], [250, 170, 30],
    [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60], [255, 0, 0], [0, 0, 142], [0, 0, 70],
    [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32]],
};
/** labelId of each Cityscapes train id 0..18 (road = 7, ..., bicycle = 33); all other labelIds are ignored. */
export const CITYSCAPES_LABEL_IDS = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33] as const;
/** Largest labelId Cityscapes defines (bicycle); larger stored values other than 255 are errors. */
const CITYSCAPES_MAX_LABEL_ID = 33;

/**
 * Lookup table stored value -> class id: 0..numClasses-1 map to themselves, 255 to ignore, `extraIgnore`
 * values to ignore, everything else to INVALID_LABEL.
 */
export function identityLabelMap(numClasses: number, extraIgnore: readonly number[] = []): Int16Array {
  const table = new Int16Array(256).fill(INVALID_LABEL);
  for (let id = 0; id < numClasses; id++) table[id] = id;
  for (const value of [...extraIgnore, IGNORE_INDEX]) table[value] = IGNORE_INDEX;
  return table;
}

/** Lookup table Cityscapes labelId -> train id: the 19 classes, every other defined labelId (0..33) and 255 to ignore. */
export function cityscapesLabelMap(): Int16Array {
  const table = new Int16Array(256).fill(INVALID_LABEL);
  for (let labelId = 0; labelId <= CITYSCAPES_MAX_LABEL_ID; labelId++) table[labelId] = IGNORE_INDEX;
  table[IGNORE_INDEX] = IGNORE_INDEX;
  CITYSCAPES_LABEL_IDS.forEach((labelId, trainId) => {
    table[labelId] = trainId;
  });
  return table;
}
