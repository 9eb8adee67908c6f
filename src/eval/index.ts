/** Evaluation: the confusion matrix and its metrics, inference with test-time augmentation, evaluate() at native resolution. */
export { ConfusionMatrix, type ClassIds, type SegmentationMetrics } from './confusion.js';
export { predictMasks, predictProbabilities, type SegmentationPredictor, type TestTimeAugmentation } from './predict.js';
export { evaluate, type EvaluateOptions, type EvaluationResult } from './evaluate.js';
