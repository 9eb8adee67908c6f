/** The TypeScript face of the libtorch addon. Layout NCHW throughout. */
export { Tensor, type DType, type TypedArray, type TensorLike } from './tensor.js';
export {
  tensor, scalar, zeros, ones, full, zerosLike, onesLike, arange, randn, rand, randint, randperm,
  manualSeed, getRngState, setRngState, type TensorOptions,
} from './creation.js';
export { scope, keep, noGrad, liveTensorCount, setNumThreads, getNumThreads } from './scope.js';
export * from './ops/math.js';
export * from './ops/shape.js';
export * from './ops/functional.js';
export { encodeSafetensors, decodeSafetensors, saveSafetensors, loadSafetensors, type SafetensorsContent } from './safetensors.js';
export * as optim from './optim/index.js';
export { gradNorm, clipGradNorm } from './clip-grad.js';
