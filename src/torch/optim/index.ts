/** Optimisers and learning-rate schedules. */
export { Optimizer, type OptimizerState } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { saveOptimizerState, loadOptimizerState } from './serialize.js';
export { polySchedule, cosineSchedule, withLinearWarmup, POLY_POWER, type Schedule, type DecayOptions } from './schedule.js';
