/**
 * The losses' constants, in a module without the engine: the run configuration's schema reads them, and
 * parsing a config (or printing --help) must not load libtorch.
 */

/** Temperature tau of the paper's loss (Zhao et al. 2021); also the default of the released code (contrastive_loss.py). */
export const PAPER_TEMPERATURE = 0.07;
/** Label of pixels that take no part in the loss (the VOC / Cityscapes "void" convention). */
export const DEFAULT_IGNORE_INDEX = 255;
