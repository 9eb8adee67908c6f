/** The CLI's exit statuses, in their own module so that command runners can read them without importing main. */
import type { ErrorCode } from '../errors.js';

/** Exit status of each error code (0 = success, 1 = unexpected failure, i.e. a bug). */
export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = {
  CONFIG: 2,
  DATASET: 3,
  CHECKPOINT: 4,
  STATE_DICT: 5,
  SHAPE: 6,
  ENGINE: 7,
  NUMERIC: 8,
  DISTRIBUTED: 9,
  INTERRUPTED: 130,
};
