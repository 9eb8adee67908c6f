// Optimisers under misuse: a step that cannot complete changes nothing, a state that does not fit is rejected
// with CheckpointError before anything changes, bad settings and groups are ConfigErrors, and the
// constructors and loadStateDict leave no stray handles.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../creation.js';
import { keep, liveTensorCount, scope } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { AdamW } from './adamw.js';
import type { Optimizer, OptimizerState } from './optimizer.js';
import { SGD } from './sgd.js';
import { CheckpointError, ConfigError, EngineError } from '../../errors.js';

/** A weight [2, 3] and a bias [3] that require gradients (kept: the caller disposes them). */
function makeParams(): Tensor[] {
  return [keep(tensor([0.5, -1, 2, 0.25, 1.5, -0.75], [2, 3], { requiresGrad: true })), keep(tensor([0.1, 0.2, -0.3], [3], { requiresGrad: true }))];
}

/** Gives every parameter the gradient of sum(p * p * step) (nonzero, different per step). */
function setGrads(params: Tensor[], step: number): void {
  scope(() => params.forEach((p) => {
    p.zeroGrad();
    p.mul(p).mul(step + 1).sum().backward();
  }));
}

function values(tensors: readonly Tensor[]): number[][] {
  return tensors.map((t) => t.toArray());
}

/** Runs two steps, then checks that a step whose state tensor `name` of parameter 1 is disposed throws and changes nothing. */
function checkAllOrNothing(make: (params: Tensor[]) => Optimizer, name: string): void {
  const params = makeParams();
  const optimizer = make(params);
  for (let step = 0; step < 2; step++) {
    setGrads(params, step);
    optimizer.step();
  }
  setGrads(params, 2);
  const state = optimizer.stateDict();
  const before = { params: values(params), state: [...state.tensors].filter(([key]) => key.startsWith('state.0.')).map(([, t]) => t.toArray()), meta: JSON.stringify(state.meta) };
  state.tensors.get(`state.1.${name}`)?.dispose(); // the classic mistake: freeing the borrowed stateDict() tensors
  assert.throws(() => optimizer.step(), (error: unknown) => error instanceof EngineError &&
    /step: the state of parameter 1 was disposed; nothing was updated.*do not dispose them/.test(error.message));
  assert.deepEqual(values(params), before.params, 'parameter 0 was not updated');
  const after = optimizer.stateDict();
  assert.deepEqual([...after.tensors].filter(([key]) => key.startsWith('state.0.')).map(([, t]) => t.toArray()), before.state, 'state 0 unchanged');
  assert.equal(JSON.stringify(after.meta), before.meta, 'step counts unchanged');
  optimizer.dispose();
  params.forEach((p) => p.dispose());
}

describe('a step is all or nothing', () => {
  it('SGD: a disposed momentum buffer of the second parameter leaves the first untouched', () =>
    checkAllOrNothing((params) => new SGD(params, { lr: 0.1, momentum: 0.9 }), 'momentum_buffer'));

  it('AdamW: a disposed second moment leaves the first parameter, its moments and every step count untouched', () =>
    checkAllOrNothing((params) => new AdamW(params, { lr: 0.1 }), 'exp_avg_sq'));

  it('a disposed parameter is named and nothing is updated', () => {
    for (const make of [(ps: Tensor[]) => new SGD(ps, { lr: 0.1 }), (ps: Tensor[]) => new AdamW(ps)]) {
      const params = makeParams();
      const optimizer = make(params);
      setGrads(params, 0);
      const first = params[0]!.toArray();
      params[1]!.dispose();
      assert.throws(() => optimizer.step(), (error: unknown) => error instanceof EngineError &&
        /step: parameter 1 was disposed; nothing was updated/.test(error.message));
      assert.deepEqual(params[0]!.toArray(), first);
      optimizer.dispose();
      params[0]!.dispose();
    }
  });
});

/** Loads a changed copy of an AdamW's state (after one step) into a fresh AdamW; `check` gets the load and both metas. */
function withAdamWState(change: (state: OptimizerState) => void, check: (load: () => void, meta: () => string, sourceMeta: string) => void): void {
  const params = makeParams();
  const source = new AdamW(params);
  setGrads(params, 0);
  source.step();
  const target = new AdamW(params);
  const original = source.stateDict();
  const state: OptimizerState = { tensors: new Map(original.tensors), meta: { ...original.meta } };
  scope(() => {
    change(state);
    check(() => target.loadStateDict(state), () => JSON.stringify(target.stateDict().meta), JSON.stringify(original.meta));
  });
  source.dispose();
  target.dispose();
  params.forEach((p) => p.dispose());
}

/** The check that a load fails with CheckpointError matching `pattern` and changes nothing. */
function rejects(pattern: RegExp): (load: () => void, meta: () => string) => void {
  return (load, meta) => {
    const before = meta();
    assert.throws(load, (error: unknown) => error instanceof CheckpointError && pattern.test(error.message), String(pattern));
    assert.equal(meta(), before, 'a rejected state changes nothing');
  };
}

describe('AdamW.loadStateDict rejects a state that does not fit with CheckpointError', () => {
  it('steps of the wrong length or not counts', () => {
    withAdamWState((state) => { state.meta.steps = [1]; }, rejects(/steps: expected 2 step counts \(integers >= 0\), got \[1\]/));
    withAdamWState((state) => { state.meta.steps = [1, 0.5]; }, rejects(/steps: expected 2 step counts/));
    withAdamWState((state) => { delete state.meta.steps; }, rejects(/steps: expected 2 step counts .*got undefined/));
  });

  it('a moment of the wrong shape or dtype, a missing or an unexpected tensor', () => {
    withAdamWState((state) => { state.tensors.set('state.1.exp_avg', tensor([0, 0], [2])); },
      rejects(/state.1.exp_avg is float32 \[2\], its parameter is float32 \[3\]/));
    withAdamWState((state) => { state.tensors.set('state.0.exp_avg_sq', tensor(new Float64Array(6), [2, 3])); },
      rejects(/state.0.exp_avg_sq is float64 \[2, 3\], its parameter is float32 \[2, 3\]/));
    withAdamWState((state) => { state.tensors.delete('state.1.exp_avg_sq'); }, rejects(/lacks state.1.exp_avg_sq/));
    withAdamWState((state) => { state.tensors.set('state.2.exp_avg', tensor([0], [1])); }, rejects(/unexpected tensors: state.2.exp_avg/));
  });

  it('another grouping, or an invalid lr', () => {
    withAdamWState((state) => { state.meta.groupSizes = [1, 1]; }, rejects(/parameter groups of sizes \[1,1\], this optimizer has \[2\]/));
    withAdamWState((state) => { state.meta.lr = -1; }, rejects(/invalid lr: -1/));
  });

  it('a state from before parameter groups (no groupSizes) still loads into one group', () => {
    withAdamWState((state) => { delete state.meta.groupSizes; }, (load, meta, sourceMeta) => {
      load();
      assert.equal(meta(), sourceMeta);
    });
  });
});

describe('SGD.loadStateDict', () => {
  it('rejects a momentum buffer of the wrong shape or dtype and another grouping', () => {
    const params = makeParams();
    const sgd = new SGD(params, { lr: 0.1, momentum: 0.9 });
    scope(() => {
      const meta = { kind: 'sgd', paramCount: 2, groupSizes: [2], lr: 0.1 };
      assert.throws(() => sgd.loadStateDict({ tensors: new Map([['state.0.momentum_buffer', tensor([1, 2], [2])]]), meta }),
        (error: unknown) => error instanceof CheckpointError && /state.0.momentum_buffer is float32 \[2\], its parameter is float32 \[2, 3\]/.test(error.message));
      assert.throws(() => sgd.loadStateDict({ tensors: new Map([['state.1.momentum_buffer', tensor(new Float64Array(3), [3])]]), meta }),
        (error: unknown) => error instanceof CheckpointError && /is float64 \[3\], its parameter is float32 \[3\]/.test(error.message));
      const grouped = new SGD([{ params: params.slice(0, 1) }, { params: params.slice(1), weightDecay: 0 }], { lr: 0.1 });
      assert.throws(() => grouped.loadStateDict(sgd.stateDict()), (error: unknown) => error instanceof CheckpointError &&
        /groups of sizes \[2\], this optimizer has \[1, 1\]; build the optimizer with the same groups/.test(error.message));
    });
    sgd.dispose();
    params.forEach((p) => p.dispose());
  });

  it('loading its own stateDict() keeps its state (copies before freeing)', () => {
    for (const make of [(ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9 }), (ps: Tensor[]) => new AdamW(ps)]) {
      const [params, twinParams] = [makeParams(), makeParams()];
      const [optimizer, twin] = [make(params), make(twinParams)];
      for (let step = 0; step < 3; step++) {
        if (step === 1) optimizer.loadStateDict(optimizer.stateDict());
        for (const [ps, opt] of [[params, optimizer], [twinParams, twin]] as const) {
          setGrads(ps, step);
          opt.step();
        }
      }
      assert.deepEqual(values(params), values(twinParams));
      for (const o of [optimizer, twin]) o.dispose();
      [...params, ...twinParams].forEach((p) => p.dispose());
    }
  });
});

describe('no stray handles', () => {
  it('AdamW owns exactly two moments per parameter; loadStateDict replaces them one for one', () => {
    const params = makeParams();
    const before = liveTensorCount();
    const source = new AdamW(params);
    assert.equal(liveTensorCount(), before + 4);
    const target = new AdamW(params);
    target.loadStateDict(source.stateDict());
    assert.equal(liveTensorCount(), before + 8);
    for (const o of [source, target]) o.dispose();
    assert.equal(liveTensorCount(), before);
    params.forEach((p) => p.dispose());
  });

  it('SGD.loadStateDict copies each buffer once', () => {
    const params = makeParams();
    const source = new SGD(params, { lr: 0.1, momentum: 0.9 });
    setGrads(params, 0);
    source.step();
    const target = new SGD(params, { lr: 0.1, momentum: 0.9 });
    const before = liveTensorCount();
    target.loadStateDict(source.stateDict());
    target.loadStateDict(source.stateDict());
    assert.equal(liveTensorCount(), before + 2);
    for (const o of [source, target]) o.dispose();
    params.forEach((p) => p.dispose());
  });
});

describe('settings and groups', () => {
  it('groups take the options as defaults and override them', () => {
    const params = makeParams();
    const sgd = new SGD([{ params: params.slice(0, 1) }, { params: params.slice(1), weightDecay: 0, lrScale: 10 }], { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    assert.deepEqual(sgd.paramGroups.map(({ params: list, ...settings }) => ({ size: list.length, ...settings })), [
      { size: 1, lrScale: 1, momentum: 0.9, dampening: 0, weightDecay: 1e-4, nesterov: false },
      { size: 1, lrScale: 10, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false },
    ]);
    assert.equal(sgd.params.length, 2);
    const adam = new AdamW([{ params: params.slice(1), betas: [0.5, 0.9] }], { weightDecay: 0.1 });
    assert.deepEqual(adam.paramGroups.map(({ params: list, ...settings }) => settings), [{ lrScale: 1, betas: [0.5, 0.9], eps: 1e-8, weightDecay: 0.1 }]);
    for (const o of [sgd, adam]) o.dispose();
    params.forEach((p) => p.dispose());
  });

  it('a parameter in two groups, or a mix of tensors and groups, is a ConfigError', () => {
    const params = makeParams();
    assert.throws(() => new SGD([{ params }, { params: params.slice(1) }], { lr: 0.1 }), (error: unknown) =>
      error instanceof ConfigError && /SGD: a parameter appears twice \(in groups 0 and 1\)/.test(error.message));
    assert.throws(() => new AdamW([params[0], { params: params.slice(1) }] as never), (error: unknown) =>
      error instanceof ConfigError && /AdamW: expected a list of parameters or a list of parameter groups \{ params, ... \}, got a mix \(item 0 is a tensor\)/.test(error.message));
    params.forEach((p) => p.dispose());
  });

  it('settings out of range are ConfigErrors naming the setting', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => new SGD([], { lr: -0.1 }), /SGD lr: expected a finite number >= 0, got -0.1/],
      [() => new SGD([], { lr: 0.1, nesterov: true }), /SGD group 0: Nesterov momentum requires momentum > 0 and dampening = 0/],
      [() => new SGD([{ params: [], weightDecay: -1 }], { lr: 0.1 }), /SGD group 0 weightDecay: expected a finite number >= 0, got -1/],
      [() => new SGD([], { lr: 0.1, momentum: Number.NaN }), /SGD group 0 momentum: expected a finite number >= 0, got NaN/],
      [() => new AdamW([{ params: [], lrScale: -2 }]), /AdamW group 0 lrScale: expected a finite number >= 0, got -2/],
      [() => new AdamW([], { betas: [0.9, 1] }), /AdamW group 0 betas\[1\]: expected a finite number in \[0, 1\), got 1/],
      [() => new AdamW([], { lr: Infinity }), /AdamW lr: expected a finite number >= 0, got Infinity/],
      [() => { new SGD([], { lr: 0.1 }).lr = Number.NaN; }, /SGD lr: expected a finite number >= 0, got NaN/],
    ];
    for (const [make, pattern] of cases) {
      assert.throws(make, (error: unknown) => error instanceof ConfigError && pattern.test(error.message), String(pattern));
    }
  });
});
