/** The dataset contract shared by every reader, the splits, the statistics and the loader. */
import type { Rgb } from '../augment/geometric.js';
import type { LabelledImage } from '../augment/types.js';

/**
 * One labelled image. `image`: uint8 RGB HxWx3 (row-major, interleaved); `mask`: uint8 class ids HxW
 * in 0..numClasses-1, or 255 = ignore. Fresh arrays owned by the caller.
 */
export interface Sample extends LabelledImage {
  /** Stable identifier (the file stem), used by split files. */
  readonly id: string;
}

/** One image/mask pair on disk (absolute paths). */
export interface FileEntry {
  readonly id: string;
  readonly image: string;
  readonly mask: string;
}

/**
 * Plain data from which a FileDataset is rebuilt, e.g. inside a loader worker thread.
 * `labelMap[v]` is the class id of stored mask value v, 255 for ignore, -1 where v is invalid.
 */
export interface FileDatasetDescriptor {
  readonly name: string;
  readonly classNames: readonly string[];
  readonly colours: readonly Rgb[];
  readonly labelMap: Int16Array;
  /** What a stored value should be, for error messages (e.g. "0..10 or 11 (void)"). */
  readonly labelRange: string;
  readonly entries: readonly FileEntry[];
}

/** A segmentation dataset: indexable samples plus the class table. */
export interface SegmentationDataset {
  /** e.g. "camvid train (/data/camvid)". */
  readonly name: string;
  readonly classNames: readonly string[];
  readonly colours: readonly Rgb[];
  readonly numClasses: number;
  /** Always 255. */
  readonly ignoreIndex: number;
  readonly length: number;
  /** Sample ids in index order. */
  readonly ids: readonly string[];
  /**
   * Reads sample `index` (0 <= index < length).
   * @throws DatasetError naming the file for missing, unreadable or inconsistent files.
   */
  get(index: number): Promise<Sample>;
  /** Present for file-backed datasets: lets loader workers rebuild the dataset without rescanning. */
  readonly descriptor?: FileDatasetDescriptor;
}
