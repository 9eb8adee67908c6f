/**
 * A training batch whose pixels are all ignored (255), through the real stage losses and models: the
 * hand answer is a loss of exactly 0 and a zero gradient for every parameter (not PyTorch's 0/0 = NaN),
 * for cross-entropy fine-tuning and for every contrastive loss, with and without joint cross-entropy.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Batch, PairBatch } from '../data/loader.js';
import { full, manualSeed, randn } from '../torch/creation.js';
import { liveTensorCount, scope } from '../torch/scope.js';
import type { Module } from '../nn/module.js';
import { parseRunConfig, type RunConfig } from './config.js';
import { buildFinetuneModel, finetuneLoss } from './finetune.js';
import { PretrainModel, pretrainLoss } from './pretrain.js';

function config(pretrain: Record<string, unknown>): RunConfig {
  return parseRunConfig({
    data: { kind: 'camvid', root: '/unused' }, model: { widthMultiplier: 0.0625 },
    pretrain: { head: { width: 16 }, ...pretrain },
  });
}

function ignoredBatch(): PairBatch {
  const images = randn([2, 3, 32, 32]);
  const distorted = randn([2, 3, 32, 32]);
  const labels = full([2, 32, 32], 255, 'int64');
  return { ids: ['a', 'b'], images, distorted, labels, dispose: () => { images.dispose(); distorted.dispose(); labels.dispose(); } };
}

/** Backpropagates `loss` and checks that it is exactly 0 and every parameter gradient is exactly 0. */
function assertZeroLossAndGradients(model: Module, lossOf: () => ReturnType<typeof finetuneLoss>, what: string): void {
  const live = liveTensorCount();
  scope(() => {
    const loss = lossOf();
    const value = loss.item();
    assert.ok(value === 0, `${what}: loss ${value}`); // +0 or -0 (cross-entropy's sum x 0 keeps the sum's sign)
    loss.backward();
    let reached = 0;
    for (const [name, param] of model.namedParameters()) {
      const grad = param.grad;
      if (grad === null) continue;
      reached += 1;
      assert.ok((grad.toTypedArray() as Float32Array).every((value) => value === 0), `${what}: gradient of ${name} is not all zero`);
    }
    assert.ok(reached > 0, `${what}: backward reached the parameters`);
  });
  assert.equal(liveTensorCount(), live, `${what}: tensors leaked`);
}

describe('an all-ignored batch gives loss 0 and zero gradients', () => {
  for (const loss of ['within', 'cross', 'batch', 'official'] as const) {
    for (const ceWeight of [0, 0.5]) {
      it(`pretraining, ${loss} loss${ceWeight > 0 ? ' + joint cross-entropy' : ''}`, () => {
        manualSeed(2);
        const run = config({ loss, ceWeight });
        const model = new PretrainModel(run, 11);
        model.train();
        const batch = ignoredBatch();
        try {
          assertZeroLossAndGradients(model, () => pretrainLoss(model, batch, run.pretrain), `${loss}, ceWeight ${ceWeight}`);
        } finally {
          batch.dispose();
          model.dispose();
        }
      });
    }
  }

  it('fine-tuning cross-entropy (also with class weights)', () => {
    manualSeed(2);
    const model = buildFinetuneModel(config({}), 11);
    model.train();
    const batch: Batch = ignoredBatch();
    const weights = full([11], 2);
    try {
      assertZeroLossAndGradients(model, () => finetuneLoss(model, batch, null), 'cross-entropy');
      model.zeroGrad();
      assertZeroLossAndGradients(model, () => finetuneLoss(model, batch, weights), 'weighted cross-entropy');
    } finally {
      weights.dispose();
      batch.dispose();
      model.dispose();
    }
  });
});
