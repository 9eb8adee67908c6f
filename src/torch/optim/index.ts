/** Optimisers and learning-rate schedules. */
export { Optimizer, type OptimizerState, type ParamGroup, type Params, type ResolvedGroup } from './optimizer.js';
export { SGD, type SGDOptions, type SGDParamGroup } from './sgd.js';
export { AdamW, type AdamWOptions, type AdamWParamGroup } from './adamw.js';
export { saveOptimizerState, loadOptimizerState } from './serialize.js';
export { polySchedule, cosineSchedule, withLinearWarmup, POLY_POWER, type Schedule, type DecayOptions } from './schedule.js';
