/**
 * Learning-rate schedules as pure functions of the step, so a checkpoint only needs the step number
 * to resume them exactly. Usage: `optimizer.lr = schedule(step)` before `optimizer.step()`.
 */
import { ConfigError } from '../../errors.js';

/** A learning rate for each step 0, 1, 2, ... */
export type Schedule = (step: number) => number;

/** DeepLab's "poly" policy exponent (Chen et al., DeepLab, TPAMI 2018). */
export const POLY_POWER = 0.9;

/** Options shared by the decaying schedules. */
export interface DecayOptions {
  baseLr: number;
  totalSteps: number;
}

function checkDecay(options: DecayOptions): void {
  checkNonNegative('baseLr', options.baseLr);
  if (!Number.isInteger(options.totalSteps) || options.totalSteps < 1) throw new ConfigError(`schedule totalSteps must be a positive integer, got ${options.totalSteps}.`);
}

function checkNonNegative(what: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(`schedule ${what} must be a finite number >= 0, got ${value}.`);
}

/** lr = baseLr * (1 - step / totalSteps) ^ power (0 from totalSteps on). @throws ConfigError for bad options. */
export function polySchedule(options: DecayOptions & { power?: number }): Schedule {
  checkDecay(options);
  const power = options.power ?? POLY_POWER;
  checkNonNegative('power', power);
  return (step) => options.baseLr * Math.pow(Math.max(0, 1 - step / options.totalSteps), power);
}

/** lr = minLr + (baseLr - minLr) * (1 + cos(pi * step / totalSteps)) / 2 (minLr from totalSteps on). @throws ConfigError for bad options. */
export function cosineSchedule(options: DecayOptions & { minLr?: number }): Schedule {
  checkDecay(options);
  const minLr = options.minLr ?? 0;
  checkNonNegative('minLr', minLr);
  return (step) => minLr + (options.baseLr - minLr) * (1 + Math.cos(Math.PI * Math.min(step, options.totalSteps) / options.totalSteps)) / 2;
}

/**
 * Linear warm-up in front of another schedule: for step < warmupSteps the rate ramps linearly from
 * startFactor * after(0) to after(warmupSteps); then `after(step)`.
 * @throws ConfigError for a negative or fractional warmupSteps or a bad startFactor.
 */
export function withLinearWarmup(after: Schedule, warmupSteps: number, startFactor = 0.001): Schedule {
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new ConfigError(`schedule warmupSteps must be a non-negative integer, got ${warmupSteps}.`);
  checkNonNegative('startFactor', startFactor);
  return (step) => {
    if (step >= warmupSteps) return after(step);
    const target = after(warmupSteps);
    const factor = startFactor + (1 - startFactor) * (step / warmupSteps);
    return target * factor;
  };
}
