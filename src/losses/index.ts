/** The pixel-wise label-based contrastive losses of Zhao et al. (ICCV 2021), exact with O(N) memory. */
export {
  withinImageContrastiveLoss, crossImageContrastiveLoss, batchContrastiveLoss, officialContrastiveLoss,
  PAPER_TEMPERATURE, DEFAULT_IGNORE_INDEX,
  type PixelContrastiveOptions, type CrossImageContrastiveOptions, type OfficialContrastiveOptions,
} from './pixel-contrastive.js';
export { contrastiveLossFloor, type ContrastiveLossKind, type LossFloorOptions } from './loss-floor.js';
