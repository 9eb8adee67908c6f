import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tensor } from '../creation.js';
import { keep, liveTensorCount, scope } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { assertClose } from '../testing.js';
import { SGD } from './sgd.js';
import { AdamW } from './adamw.js';
import type { Optimizer } from './optimizer.js';
import { loadOptimizerState, saveOptimizerState } from './serialize.js';
import { CheckpointError } from '../../errors.js';

// Trajectories recorded from torch.optim (PyTorch 1.13) by scripts/fixtures/optim.py.
interface Case {
  shapes: number[][];
  initial: number[][];
  grads: number[][][];
  lrs: number[];
  after: number[][][];
  options: Settings & { kind: 'sgd' | 'adamw'; weightDecay: number; groups?: (Partial<Settings> & { size: number })[] };
}
interface Settings { momentum?: number; dampening?: number; weightDecay: number; nesterov?: boolean; betas?: [number, number]; eps?: number; lrScale?: number }
const fixture = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'optim.json'), 'utf8')) as { cases: Record<string, Case> };

function makeParams(c: Case): Tensor[] {
  return c.initial.map((values, i) => keep(tensor(values, c.shapes[i], { requiresGrad: true })));
}

/** The fixture's optimizer: over `params` as one list, or as the fixture's groups (consecutive slices). */
function makeOptimizer(c: Case, params: Tensor[]): Optimizer {
  const o = c.options;
  let start = 0;
  const groups = o.groups?.map(({ size, ...settings }) => ({ ...settings, params: params.slice(start, (start += size)) }));
  return o.kind === 'sgd'
    ? new SGD(groups ?? params, { lr: c.lrs[0], momentum: o.momentum, dampening: o.dampening, weightDecay: o.weightDecay, nesterov: o.nesterov })
    : new AdamW(groups ?? params, { lr: c.lrs[0], betas: o.betas, eps: o.eps, weightDecay: o.weightDecay });
}

/** Sets each parameter's gradient to the fixture's by backpropagating sum(p * g). */
function setGrads(c: Case, params: Tensor[], step: number): void {
  scope(() => {
    params.forEach((p) => p.zeroGrad());
    params.forEach((p, i) => p.mul(tensor(c.grads[step][i], c.shapes[i])).sum().backward());
  });
}

/**
 * Per-element bound on |ours - torch.optim| after `step` (both float32). A step is <= 16 elementwise
 * operations per element (decay, momentum or moment updates, bias corrections, sqrt, division, the update),
 * each correctly rounded, on magnitudes |p| and |update| (a buffer enters p only as lr x buffer, the update):
 * <= 16 u (|p_{s-1}| + |p_s - p_{s-1}|) per step and side. An error left in p is carried on with factor
 * |1 - lr wd| <= 1; one left in a buffer reaches each later update scaled by momentum or beta <= 1, at most
 * `step` times, hence the factor (step - s + 1) on the update of step s. For AdamW this presumes the update's relative error
 * follows its moments' (m may cancel, but |m| / sqrt(v) is bounded when beta1^2 < beta2, as in every case
 * here). Both sides: twice.
 */
function trajectoryBound(c: Case, step: number, param: number): number[] {
  const unit = 16 * 2 ** -24;
  return c.after[step][param].map((_, i) => {
    let bound = 0;
    for (let s = 0; s <= step; s++) {
      const before = s === 0 ? c.initial[param][i] : c.after[s - 1][param][i];
      bound += unit * (Math.abs(before) + (step - s + 1) * Math.abs(c.after[s][param][i] - before));
    }
    return 2 * bound;
  });
}

for (const [name, c] of Object.entries(fixture.cases)) {
  test(`${name} follows torch.optim step for step`, () => {
    const params = makeParams(c);
    const optimizer = makeOptimizer(c, params);
    for (let step = 0; step < c.lrs.length; step++) {
      setGrads(c, params, step);
      optimizer.lr = c.lrs[step];
      optimizer.step();
      params.forEach((p, i) => assertClose(p, c.after[step][i],
        { rtol: 0, atol: 0, bound: trajectoryBound(c, step, i), what: `${name} step ${step} param ${i}` }));
    }
    optimizer.dispose();
    params.forEach((p) => p.dispose());
  });

  test(`${name}: state saved mid-run and restored into a fresh optimizer resumes bit-exactly`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'contraseg-optim-'));
    const split = 2;
    const straight = makeParams(c);
    const straightOpt = makeOptimizer(c, straight);
    const resumed = makeParams(c);
    let resumedOpt = makeOptimizer(c, resumed);
    for (let step = 0; step < c.lrs.length; step++) {
      if (step === split) {
        saveOptimizerState(join(dir, 'opt.safetensors'), resumedOpt.stateDict());
        resumedOpt.dispose();
        resumedOpt = makeOptimizer(c, resumed);
        const state = loadOptimizerState(join(dir, 'opt.safetensors'));
        resumedOpt.loadStateDict(state);
        state.tensors.forEach((t) => t.dispose());
      }
      for (const [ps, opt] of [[straight, straightOpt], [resumed, resumedOpt]] as const) {
        setGrads(c, ps, step);
        opt.lr = c.lrs[step];
        opt.step();
      }
    }
    straight.forEach((p, i) => assert.deepEqual(resumed[i].toArray(), p.toArray(), `param ${i} differs after resume`));
    for (const t of [...straight, ...resumed]) t.dispose();
    straightOpt.dispose();
    resumedOpt.dispose();
  });
}

test('optimizer steps and state round trips leak no tensors', () => {
  const c = fixture.cases.sgd_momentum_wd;
  const params = makeParams(c);
  const optimizer = new SGD(params, { lr: 0.1, momentum: 0.9 });
  setGrads(c, params, 0);
  optimizer.step(); // creates the momentum buffers (kept)
  const before = liveTensorCount();
  for (let i = 0; i < 3; i++) optimizer.step();
  assert.equal(liveTensorCount(), before);
  optimizer.dispose();
  params.forEach((p) => p.dispose());
});

test('loading the state of another optimizer kind or size fails with CheckpointError', () => {
  const c = fixture.cases.adamw_default;
  const params = makeParams(c);
  const adam = new AdamW(params);
  const sgd = new SGD(params, { lr: 0.1, momentum: 0.9 });
  assert.throws(() => sgd.loadStateDict(adam.stateDict()), (e: unknown) => e instanceof CheckpointError && /is for 'adamw'/.test(e.message));
  const fewer = new AdamW(params.slice(1));
  assert.throws(() => fewer.loadStateDict(adam.stateDict()), (e: unknown) => e instanceof CheckpointError && /2 parameters, this optimizer has 1/.test(e.message));
  for (const o of [adam, sgd, fewer]) o.dispose();
  params.forEach((p) => p.dispose());
});

test('SGD rejects Nesterov without momentum', () => {
  assert.throws(() => new SGD([], { lr: 0.1, nesterov: true }), /Nesterov momentum requires momentum > 0/);
});

test('AdamW advances the step count only of parameters that have a gradient, as torch.optim does', () => {
  const c = fixture.cases.adamw_default;
  const params = makeParams(c);
  const optimizer = new AdamW(params);
  const before = params[1].toTypedArray();
  scope(() => params[0].sum().backward()); // only params[0] gets a gradient
  optimizer.step();
  optimizer.step();
  assert.deepEqual(optimizer.stateDict().meta.steps, [2, 0]);
  assert.deepEqual(params[1].toTypedArray(), before, 'a parameter without gradient is not touched (no weight decay either)');
  optimizer.dispose();
  params.forEach((p) => p.dispose());
});
