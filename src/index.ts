/** contraseg: label-efficient semantic segmentation (Zhao et al., ICCV 2021) in TypeScript over libtorch. */
export * from './torch/index.js';
export * as nn from './nn/index.js';
export * from './models/index.js';
export * from './losses/index.js';
export * from './data/index.js';
export * from './augment/index.js';
export * from './eval/index.js';
export * from './train/index.js';
export * from './report/index.js';
export * from './errors.js';
export * from './deploy/index.js';
export * as distributed from './distributed/index.js';
