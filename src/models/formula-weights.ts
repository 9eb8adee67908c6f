/**
 * Test support: deterministic weights and inputs that scripts/fixtures/models.py computes identically,
 * so the PyTorch reference and contraseg run the same network without storing its weights. Values
 * come from a 32-bit integer hash (exact in both languages), mapped per tensor role in float64 and
 * rounded to float32: conv weights uniform with variance 1/fan_in, BN weights in [0.8, 1.2], biases
 * and running means in [-0.1, 0.1], running variances in [0.5, 1.5].
 */
import type { Module } from '../nn/index.js';
import { tensor } from '../torch/creation.js';
import type { Tensor } from '../torch/tensor.js';

/** u_j = lowbias32((j + key * 0x9E3779B9) mod 2^32) / 2^32 for j < count. */
export function hashUniform(count: number, key: number): Float64Array {
  const out = new Float64Array(count);
  const offset = Math.imul(key, 0x9e3779b9) >>> 0;
  for (let j = 0; j < count; j++) {
    let x = (j + offset) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d);
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b);
    x ^= x >>> 16;
    out[j] = (x >>> 0) / 4294967296;
  }
  return out;
}

function formulaValues(name: string, shape: number[], key: number, isBatchNorm: boolean): Float32Array {
  const count = shape.reduce((product, dim) => product * dim, 1);
  const u = hashUniform(count, key);
  const out = new Float32Array(count);
  const leaf = name.slice(name.lastIndexOf('.') + 1);
  // The same float64 operations as models.py's formula_value, then rounding to float32.
  if (leaf === 'weight' && shape.length === 4) {
    const bound = Math.sqrt(3 / (shape[1] * shape[2] * shape[3]));
    for (let j = 0; j < count; j++) out[j] = (2 * u[j] - 1) * bound;
  } else if (leaf === 'weight' && isBatchNorm) {
    for (let j = 0; j < count; j++) out[j] = 0.8 + 0.4 * u[j];
  } else if (leaf === 'bias' || leaf === 'running_mean') {
    for (let j = 0; j < count; j++) out[j] = 0.1 * (2 * u[j] - 1);
  } else if (leaf === 'running_var') {
    for (let j = 0; j < count; j++) out[j] = 0.5 + u[j];
  } else {
    throw new Error(`no formula for ${name}`);
  }
  return out;
}

/** Fills every float parameter and buffer of `module`, in state-dict order, as models.py's fill_by_formula. */
export function fillByFormula(module: Module): void {
  const state = module.stateDict();
  const values = new Map<string, Tensor>();
  let index = 0;
  for (const [name, target] of state) {
    if (!name.endsWith('num_batches_tracked')) {
      const prefix = name.slice(0, name.lastIndexOf('.'));
      values.set(name, tensor(formulaValues(name, target.shape, index, state.has(`${prefix}.running_mean`)), target.shape));
    }
    index++;
  }
  try {
    module.loadStateDict(values, { strict: false });
  } finally {
    for (const value of values.values()) value.dispose();
  }
}

/** The input models.py's formula_input builds: 2 * u(j, 9999) - 1, float32. */
export function formulaInput(shape: number[]): Tensor {
  const count = shape.reduce((product, dim) => product * dim, 1);
  return tensor(Float32Array.from(hashUniform(count, 9999), (value) => 2 * value - 1), shape);
}
