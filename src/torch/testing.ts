/**
 * Test helpers for the engine (test-only; not exported from the package): a tolerant comparison that
 * reports the worst element, loading and replaying the PyTorch oracle fixtures written by
 * scripts/fixtures/ops.py, a leak assertion, and a float64 finite-difference gradient checker.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, type DType } from './tensor.js';
import { tensor } from './creation.js';
import { liveTensorCount, noGrad, scope } from './scope.js';

/** A serialised tensor: flat row-major data; non-finite floats spelled "NaN", "Infinity", "-Infinity". */
export interface TensorSpec {
  dtype: DType;
  shape: number[];
  data: (number | string)[];
}

/** Elementwise tolerance: |actual - expected| <= atol + rtol * |expected| (numpy.allclose). */
export interface Tolerance {
  rtol: number;
  atol: number;
  /** Why a case needs more than the default. */
  why?: string;
}

/** One oracle case: an op applied to inputs, its outputs, and input gradients for a fixed upstream gradient. */
export interface OpCase {
  name: string;
  op: string;
  params: Record<string, any>;
  inputs: Record<string, TensorSpec>;
  outputs: Record<string, TensorSpec>;
  /** Upstream gradient per differentiable output: grads are those of sum_k (outputs[k] * upstream[k]).sum(). */
  upstream: Record<string, TensorSpec>;
  grads: Record<string, TensorSpec>;
  tolerance?: Tolerance;
  /** Per-element absolute allowances a generator derived from an error argument (replace `tolerance`). */
  bounds?: CaseBounds;
}

/**
 * Per-element absolute bounds written next to a case's expected values: one number per element of each
 * output and input gradient, |contraseg - PyTorch| <= bound. `why` states the error argument.
 */
export interface CaseBounds {
  why: string;
  outputs: Record<string, number[]>;
  grads: Record<string, number[]>;
}

/** A fixture file of src/torch/fixtures/. */
export interface Fixture {
  generator: string;
  torch: string;
  cases: OpCase[];
}

/** What an op under test returns: one tensor (named `out`) or named tensors. */
export type OpOutputs = Tensor | Record<string, Tensor>;
/** Replays a fixture op through contraseg. */
export type OpFn = (inputs: Record<string, Tensor>, params: Record<string, any>) => OpOutputs;

/** Unit roundoff of float32 (round to nearest): u = 2^-24. */
export const FLOAT32_UNIT_ROUNDOFF = 2 ** -24;

/**
 * A priori relative error bound of a float32 computation made of `depth` chained reductions, each a sum
 * of at most `reductionLength` products: every reduction of length n carries a relative error of at most
 * gamma_n = n u / (1 - n u) of the sum of its terms' magnitudes (Higham, "Accuracy and Stability of
 * Numerical Algorithms", 2nd ed., Sec. 3.1), and errors add to first order along the chain. Two float32
 * implementations (ours and PyTorch's float32 oracle) each within this bound of the exact value differ by
 * at most twice it, whatever blocking or thread count either CPU used. Scale it by the magnitude sum
 * (e.g. a checksum's sum of |values|), not by the value, which may cancel.
 * For a whole network this is a model rather than a proof: it takes each layer to pass errors on without
 * amplifying them relative to the values' magnitudes (training-mode BatchNorm renormalises every layer).
 * Eval-mode networks get proven first-order bounds instead (scripts/fixtures/chain_bounds.py).
 */
export function float32ChainBound(depth: number, reductionLength: number): number {
  const nu = reductionLength * FLOAT32_UNIT_ROUNDOFF;
  return 2 * depth * (nu / (1 - nu));
}

/**
 * Rounding units one side may spend on an element of a case without generator bounds: such cases are
 * elementwise maps, copies and reductions over at most 6 terms (softmax/logsumexp/normalize over a dim of
 * <= 5, cross-entropy over 4 classes; longer reductions carry generator bounds), so an output or gradient
 * element takes at most 16 float32 operations. +, -, *, /, sqrt are correctly rounded (1 u); libtorch's
 * vectorised exp, log, tanh, pow (SLEEF u10 / the Vectorized fallbacks) stay within 4 ulp = 4 u relative
 * (Higham, Sec. 2.2 for the model fl(x op y) = (x op y)(1 + d), |d| <= u). To first order one side's
 * error is <= 16 x 4 u = 64 u times the largest intermediate magnitude, whatever instruction set, FMA
 * contraction or evaluation order the CPU used.
 */
export const ELEMENTWISE_ROUNDINGS = 64;

/**
 * Default for float32 values compared with an independent float32 computation (PyTorch, or values worked
 * by hand): both sides within ELEMENTWISE_ROUNDINGS u of the exact value, so 2 x 64 u = 128 u apart,
 * relative to |expected| and, through atol, to intermediates of magnitude <= 1 (a cancelling difference).
 * Cases whose intermediates are larger get atol scaled by their data (caseTolerance).
 */
export const FLOAT32_TOLERANCE: Tolerance = {
  rtol: 2 * ELEMENTWISE_ROUNDINGS * FLOAT32_UNIT_ROUNDOFF,
  atol: 2 * ELEMENTWISE_ROUNDINGS * FLOAT32_UNIT_ROUNDOFF,
};

/**
 * The default allowance of a fixture case: FLOAT32_TOLERANCE with atol scaled by S, the largest magnitude
 * among the case's float inputs, upstream gradients, outputs and expected gradients. The intermediates of
 * the ops without generator bounds are such values or their products with a factor <= 1 (a softmax weight,
 * a tanh, a clamp), so |intermediate| <= max(|expected|, S) and 128 u (|expected| + S) covers both sides.
 */
export function caseTolerance(testCase: OpCase): Tolerance {
  let scale = 1;
  const specs = [testCase.inputs, testCase.upstream, testCase.outputs, testCase.grads].flatMap((group) => Object.values(group));
  for (const spec of specs) {
    if (!spec.dtype.startsWith('float')) continue;
    for (const value of specValues(spec)) if (Number.isFinite(value)) scale = Math.max(scale, Math.abs(value));
  }
  return { rtol: FLOAT32_TOLERANCE.rtol, atol: FLOAT32_TOLERANCE.atol * scale, why: 'caseTolerance: 128 u (|expected| + max |case value|)' };
}

const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** Reads src/torch/fixtures/<fileName> (regenerate with `npm run fixtures`). */
export function loadFixture(fileName: string): Fixture {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, fileName), 'utf8')) as Fixture;
}

function decode(value: number | string): number {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return Number.NaN;
  if (value === 'Infinity') return Number.POSITIVE_INFINITY;
  if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
  throw new Error(`fixture value '${value}' is not a number`);
}

/** The spec's values as numbers (float32 ones rounded back to the exact float32 the 9 digits stand for). */
export function specValues(spec: TensorSpec): number[] {
  const values = spec.data.map(decode);
  return spec.dtype === 'float32' ? values.map(Math.fround) : values;
}

/** Creates a tensor from a spec (a leaf requiring grad when asked). */
export function tensorFromSpec(spec: TensorSpec, requiresGrad = false): Tensor {
  const values = specValues(spec);
  switch (spec.dtype) {
    case 'float32': return tensor(Float32Array.from(values), spec.shape, { requiresGrad });
    case 'float64': return tensor(Float64Array.from(values), spec.shape, { requiresGrad });
    case 'int64': return tensor(BigInt64Array.from(values, (v) => BigInt(v)), spec.shape);
    case 'int32': return tensor(Int32Array.from(values), spec.shape);
    case 'uint8': return tensor(Uint8Array.from(values), spec.shape);
    case 'bool': return tensor(Uint8Array.from(values), spec.shape, { dtype: 'bool' });
  }
}

function coordinates(index: number, shape: number[]): number[] {
  const coords = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1, rest = index; d >= 0; d--) {
    coords[d] = rest % shape[d];
    rest = Math.floor(rest / shape[d]);
  }
  return coords;
}

function allowance(expected: number, tolerance: Tolerance, bound: number): number {
  return tolerance.atol + tolerance.rtol * Math.abs(expected) + bound;
}

function matches(actual: number, expected: number, tolerance: Tolerance, bound: number): boolean {
  if (Number.isNaN(expected)) return Number.isNaN(actual);
  if (!Number.isFinite(expected)) return actual === expected;
  return Math.abs(actual - expected) <= allowance(expected, tolerance, bound);
}

/**
 * Asserts elementwise closeness (NaN matches NaN, infinities must be equal). With a Tensor and a spec,
 * shape and dtype must match too; integer and bool dtypes must match exactly. On failure the message
 * names the worst element (largest |diff| relative to its allowance), its coordinates and the count.
 */
export function assertClose(actual: Tensor | ArrayLike<number>, expected: TensorSpec | ArrayLike<number>,
  options: Partial<Tolerance> & { what?: string; bound?: ArrayLike<number> } = {}): void {
  const what = options.what ?? 'values';
  let shape: number[] | undefined;
  let exact = false;
  const expectedValues = isSpec(expected) ? specValues(expected) : Array.from(expected);
  if (actual instanceof Tensor && isSpec(expected)) {
    assert.deepEqual(actual.shape, expected.shape, `${what}: shape [${actual.shape}] != expected [${expected.shape}]`);
    assert.equal(actual.dtype, expected.dtype, `${what}: dtype ${actual.dtype} != expected ${expected.dtype}`);
    exact = !expected.dtype.startsWith('float');
  }
  if (actual instanceof Tensor) shape = actual.shape;
  const actualValues = actual instanceof Tensor ? actual.toArray() : Array.from(actual);
  assert.equal(actualValues.length, expectedValues.length, `${what}: ${actualValues.length} elements, expected ${expectedValues.length}`);
  const tolerance: Tolerance = exact ? { rtol: 0, atol: 0 } : { ...FLOAT32_TOLERANCE, ...options };
  const bound = exact ? undefined : options.bound;
  if (bound !== undefined) assert.equal(bound.length, expectedValues.length, `${what}: ${bound.length} bounds for ${expectedValues.length} elements`);
  let failures = 0;
  let worst = -1;
  let worstExcess = -1;
  for (let i = 0; i < expectedValues.length; i++) {
    const elementBound = bound?.[i] ?? 0;
    if (matches(actualValues[i], expectedValues[i], tolerance, elementBound)) continue;
    failures++;
    const allowed = allowance(expectedValues[i], tolerance, elementBound);
    const excess = Number.isFinite(expectedValues[i]) ? Math.abs(actualValues[i] - expectedValues[i]) / (allowed || 1) : Infinity;
    if (!(excess <= worstExcess)) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (failures === 0) return;
  const where = shape === undefined ? `index ${worst}` : `[${coordinates(worst, shape).join(', ')}]`;
  const bounded = bound === undefined ? '' : `, per-element bound ${bound[worst]}`;
  assert.fail(`${what}: ${failures} of ${expectedValues.length} elements differ (rtol=${tolerance.rtol}, atol=${tolerance.atol}${bounded}); ` +
    `worst at ${where}: got ${actualValues[worst]}, expected ${expectedValues[worst]} ` +
    `(|diff| = ${Math.abs(actualValues[worst] - expectedValues[worst])})`);
}

function isSpec(value: unknown): value is TensorSpec {
  return typeof value === 'object' && value !== null && 'dtype' in value && 'data' in value;
}

/**
 * Runs fn inside a scope and asserts that liveTensorCount() is the same afterwards: every handle fn
 * created was freed (fn's result is discarded, so return nothing that must survive).
 */
export function assertNoLeak(what: string, fn: () => void): void {
  const before = liveTensorCount();
  scope(fn);
  const leaked = liveTensorCount() - before;
  assert.equal(leaked, 0, `${what}: liveTensorCount changed by ${leaked} (a handle was created outside scope tracking, or freed twice)`);
}

/**
 * Replays one fixture case: builds its inputs (those with expected gradients require grad), runs fn,
 * compares every output, backpropagates the fixture's upstream gradient and compares input gradients;
 * everything runs in a scope and must leave liveTensorCount unchanged.
 */
export function checkOpCase(testCase: OpCase, fn: OpFn): void {
  // Generator bounds replace the default; an explicit tolerance (e.g. exact for seeded draws) wins over both.
  const bounds = testCase.bounds;
  const tolerance = testCase.tolerance ?? (bounds === undefined ? caseTolerance(testCase) : { rtol: 0, atol: 0 });
  assertNoLeak(testCase.name, () => {
    const inputs: Record<string, Tensor> = {};
    for (const [name, spec] of Object.entries(testCase.inputs)) inputs[name] = tensorFromSpec(spec, name in testCase.grads);
    const result = fn(inputs, testCase.params);
    const outputs = result instanceof Tensor ? { out: result } : result;
    assert.deepEqual(Object.keys(outputs).sort(), Object.keys(testCase.outputs).sort(), `${testCase.name}: output names`);
    for (const [name, spec] of Object.entries(testCase.outputs)) {
      assertClose(outputs[name], spec, { ...tolerance, bound: bounds?.outputs[name], what: `${testCase.name}: output '${name}'` });
    }
    if (Object.keys(testCase.grads).length === 0) return;
    let loss: Tensor | undefined;
    for (const [name, spec] of Object.entries(testCase.upstream)) {
      const term = outputs[name].mul(tensorFromSpec(spec)).sum();
      loss = loss === undefined ? term : loss.add(term);
    }
    assert.ok(loss !== undefined, `${testCase.name}: fixture has gradients but no upstream`);
    loss.backward();
    for (const [name, spec] of Object.entries(testCase.grads)) {
      const grad = inputs[name].grad;
      assert.ok(grad !== null, `${testCase.name}: input '${name}' has no gradient after backward()`);
      assertClose(grad, spec, { ...tolerance, bound: bounds?.grads[name], what: `${testCase.name}: gradient of '${name}'` });
    }
  });
}

/** Asserts that every case's op has an implementation in `table` and every entry of `table` is exercised. */
export function assertCoversFixture(fixture: Fixture, table: Record<string, OpFn>): void {
  const used = new Set(fixture.cases.map((testCase) => testCase.op));
  const missing = [...used].filter((op) => !(op in table));
  const unused = Object.keys(table).filter((op) => !used.has(op));
  assert.deepEqual(missing, [], `fixture ops without an implementation in the test table: ${missing.join(', ')}`);
  assert.deepEqual(unused, [], `table entries without fixture cases (regenerate with npm run fixtures?): ${unused.join(', ')}`);
}

/** Options of gradcheck. */
export interface GradcheckOptions {
  /** Central-difference step (default 1e-6). */
  eps?: number;
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  /**
   * Absolute tolerance (default 1e-6). In float64 a central difference is off by <= eps^2 / 6 |f'''|
   * (truncation: 1.7e-13 |f'''| at eps = 1e-6) plus 2 gamma_k |F| / (2 eps) (the two evaluations of the
   * objective F, k roundings each: k |F| x 1.1e-10): both below 1e-6 while |f'''| <= 1e6 and k |F| <= 1e4,
   * which the small inputs of the gradchecks keep. A larger objective needs a larger atol.
   */
  atol?: number;
  /** Names the check in failure messages. */
  what?: string;
}

/** Deterministic weights in [-1, 1) (mulberry32), independent of the global generator. */
function pseudoRandom(count: number, seed: number): Float64Array {
  const out = new Float64Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed);
    out[i] = (((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * Compares autograd gradients of `fn` with central finite differences, in float64. The scalar checked is
 * sum(fn(inputs) * w) with fixed pseudo-random weights w, so every output element matters and the
 * gradients are not trivial. float64 inputs are checked; other inputs (int64 targets...) are passed through.
 * Inputs are borrowed; runs in a scope and asserts that nothing leaks.
 */
export function gradcheck(fn: (inputs: Tensor[]) => Tensor, inputs: Tensor[], options: GradcheckOptions = {}): void {
  const eps = options.eps ?? 1e-6;
  const what = options.what ?? 'gradcheck';
  assertNoLeak(what, () => {
    const outputShape = noGrad(() => scope(() => fn(inputs).shape));
    const weights = tensor(pseudoRandom(outputShape.reduce((a, b) => a * b, 1), 1234), outputShape);
    const objective = (values: Tensor[]): number => noGrad(() => scope(() => fn(values).mul(weights).sum().item()));
    const leaves = inputs.map((input) => (input.dtype === 'float64' ? input.detach().setRequiresGrad(true) : input));
    fn(leaves).mul(weights).sum().backward();
    inputs.forEach((input, k) => {
      if (input.dtype !== 'float64') return;
      const base = input.toTypedArray() as Float64Array;
      const numeric = new Float64Array(base.length);
      const at = (index: number, delta: number): number => scope(() => {
        const perturbed = Float64Array.from(base);
        perturbed[index] += delta;
        const values = [...inputs];
        values[k] = tensor(perturbed, input.shape);
        return objective(values);
      });
      for (let i = 0; i < base.length; i++) numeric[i] = (at(i, eps) - at(i, -eps)) / (2 * eps);
      const analytic = leaves[k].grad;
      assert.ok(analytic !== null, `${what}: input ${k} got no gradient`);
      assertClose(analytic, numeric, { rtol: options.rtol ?? 1e-5, atol: options.atol ?? 1e-6, what: `${what}: gradient of input ${k}` });
    });
  });
}

/** Registers a suite replaying every case of `fixture` through `table`, plus the coverage check both ways. */
export function describeFixture(title: string, fixture: Fixture, table: Record<string, OpFn>): void {
  describe(title, () => {
    it('every fixture op has an implementation and vice versa', () => assertCoversFixture(fixture, table));
    for (const testCase of fixture.cases) {
      it(testCase.name, () => checkOpCase(testCase, table[testCase.op]));
    }
  });
}
