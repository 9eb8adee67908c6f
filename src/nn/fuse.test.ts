// fuseSequentialForInference leaves the original model alone (mode, statistics) and gives a copy that stays
// in eval mode whatever the original does next.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed, randn } from '../torch/creation.js';
import { liveTensorCount, noGrad, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { fuseSequentialForInference } from './fuse.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Layer, ReLU, Sequential } from './layers.js';
import { ConfigError } from '../errors.js';

/** Largest |a - b| relative to the largest |b|. */
function relativeError(actual: Tensor, expected: Tensor): number {
  return scope(() => actual.sub(expected).abs().amax().item() / expected.abs().amax().item());
}

test('the original keeps its training mode; the copy is eval-mode and stays so when the original trains on', () => {
  manualSeed(21);
  const net = new Sequential(new Conv2d(3, 6, { kernelSize: 3, padding: 1, bias: false }), new BatchNorm2d(6), new ReLU(), new Dropout(0.5),
    new Sequential(new Conv2d(6, 4, { kernelSize: 3, stride: 2, padding: 1 }), new BatchNorm2d(4)), new BatchNorm2d(4), new AdaptiveAvgPool2d(2));
  const train = (): void => scope(() => { for (let i = 0; i < 2; i++) net.forward(randn([4, 3, 8, 8]).mul(2).add(1)); }); // moves the running stats
  train();
  const before = liveTensorCount();
  const { model: fused, owned } = fuseSequentialForInference(net);
  assert.ok(net.namedModules().every(([, module]) => module.training), 'every module of the original is still in training mode');
  assert.equal(fused.training, false);
  assert.deepEqual(fused.layers.map((layer) => layer.constructor.name), ['Conv2d', 'ReLU', 'Sequential', 'BatchNorm2d', 'AdaptiveAvgPool2d']);
  assert.equal(owned.length, 3, 'two fused convolutions and a copy of the lone BatchNorm2d');

  const input = randn([2, 3, 8, 8]);
  const expected = noGrad(() => {
    net.eval();
    const output = net.forward(input);
    net.train();
    return output;
  });
  const first = noGrad(() => fused.forward(input));
  // Folding BN into the convolution re-associates float32 sums of at most 54 products (6 x 3 x 3), each rounded
  // once (2^-24): the error is below 54 * 2^-24 ~ 3.2e-6 of the sum of |terms|, which the largest output bounds
  // to within the BN scale's spread; 1e-4 of the largest output leaves a factor of 30 for that.
  assert.ok(relativeError(first, expected) < 1e-4);
  train(); // the original goes on training: its statistics move, its Dropout drops
  const again = noGrad(() => fused.forward(input));
  assert.deepEqual(again.toArray(), first.toArray(), 'the copy neither follows the original\'s statistics nor drops');
  for (const tensor of [input, expected, first, again]) tensor.dispose();
  owned.forEach((layer) => layer.dispose());
  assert.equal(liveTensorCount(), before);
  net.dispose();
});

test('a layer that would have to be shared but depends on the mode is a ConfigError', () => {
  class Block extends Layer {
    readonly bn = this.registerModule('bn', new BatchNorm2d(3));
    forward(input: Tensor): Tensor {
      return this.bn.forward(input);
    }
  }
  const net = new Sequential(new ReLU(), new Block());
  assert.throws(() => fuseSequentialForInference(net), (error: unknown) => error instanceof ConfigError &&
    /layer 1 \(Block\) holds a BatchNorm2d or Dropout, so its output depends on train\/eval mode/.test(error.message));
  assert.equal(net.training, true);
  net.dispose();
});

test('Dropout rejects p outside [0, 1) with ConfigError', () => {
  for (const p of [-0.1, 1, Number.NaN]) {
    assert.throws(() => new Dropout(p), (error: unknown) => error instanceof ConfigError &&
      /Dropout: p is the probability of dropping an element, expected 0 <= p < 1, got/.test(error.message), String(p));
  }
});
