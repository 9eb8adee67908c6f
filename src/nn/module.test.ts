import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchNorm2d, Conv2d, Dropout, Identity, Layer, ReLU, Sequential } from './layers.js';
import { fuseSequentialForInference } from './fuse.js';
import { manualSeed, randn, zeros } from '../torch/creation.js';
import { liveTensorCount, noGrad, scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { loadSafetensors, saveSafetensors } from '../torch/safetensors.js';
import { toMemoryFormat } from '../torch/ops/functional.js';
import { ShapeError, StateDictError } from '../errors.js';

class Block extends Layer {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  constructor(inChannels: number, outChannels: number) {
    super();
    this.conv = this.registerModule('conv', new Conv2d(inChannels, outChannels, { kernelSize: 3, padding: 1, bias: false }));
    this.bn = this.registerModule('bn', new BatchNorm2d(outChannels));
  }
  forward(input: Tensor): Tensor {
    return scope(() => this.bn.forward(this.conv.forward(input)).relu());
  }
}

function buildNet(): Sequential {
  return new Sequential(new Block(3, 4), new Conv2d(4, 2, { kernelSize: 1 }), new Dropout(0.5), new Identity());
}

test('names follow PyTorch: parameters, then buffers, then children, dotted', () => {
  const net = buildNet();
  assert.deepEqual([...net.stateDict().keys()], [
    '0.conv.weight', '0.bn.weight', '0.bn.bias', '0.bn.running_mean', '0.bn.running_var', '0.bn.num_batches_tracked',
    '1.weight', '1.bias',
  ]);
  assert.deepEqual(net.namedParameters().map(([name]) => name), ['0.conv.weight', '0.bn.weight', '0.bn.bias', '1.weight', '1.bias']);
  assert.deepEqual(net.namedBuffers().map(([name]) => name), ['0.bn.running_mean', '0.bn.running_var', '0.bn.num_batches_tracked']);
  assert.equal(net.parameterCount(), 4 * 3 * 9 + 4 + 4 + 2 * 4 + 2);
  assert.ok(net.parameters().every((p) => p.requiresGrad));
  net.dispose();
});

test('train()/eval() reach every descendant; BatchNorm uses batch or running statistics', () => {
  manualSeed(3);
  const bn = new BatchNorm2d(2);
  const net = new Sequential(bn, new ReLU());
  net.eval();
  assert.ok(net.namedModules().every(([, m]) => !m.training));
  scope(() => {
    const input = randn([4, 2, 3, 3]).mul(3).add(5);
    // eval with fresh running stats (mean 0, var 1): identity up to eps
    const evalOut = noGrad(() => bn.forward(input));
    assert.ok(evalOut.sub(input.div(Math.sqrt(1 + 1e-5))).abs().amax().item() < 1e-5);
    net.train();
    const trainOut = bn.forward(input);
    // batch statistics: per-channel mean ~0 and biased variance ~1
    assert.ok(trainOut.mean([0, 2, 3]).abs().amax().item() < 1e-5);
    assert.ok(trainOut.pow(2).mean([0, 2, 3]).sub(1).abs().amax().item() < 1e-3);
    // running mean moved by momentum 0.1 towards the batch mean
    const batchMean = input.mean([0, 2, 3]);
    assert.ok(bn.runningMean.sub(batchMean.mul(0.1)).abs().amax().item() < 1e-5);
    assert.equal(bn.numBatchesTracked.item(), 1);
  });
  net.dispose();
});

test('a state dict saved to safetensors and loaded into a fresh module gives identical outputs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contraseg-nn-'));
  manualSeed(11);
  const trained = buildNet();
  scope(() => trained.forward(randn([2, 3, 8, 8]))); // moves running statistics away from their init
  trained.eval();
  saveSafetensors(join(dir, 'net.safetensors'), trained.stateDict());
  manualSeed(99);
  const fresh = buildNet().eval();
  const { tensors } = loadSafetensors(join(dir, 'net.safetensors'));
  fresh.loadStateDict(tensors);
  tensors.forEach((t) => t.dispose());
  scope(() => {
    const input = randn([2, 3, 8, 8]);
    const a = noGrad(() => trained.forward(input)).toTypedArray();
    const b = noGrad(() => fresh.forward(input)).toTypedArray();
    assert.deepEqual(b, a);
  });
  trained.dispose();
  fresh.dispose();
});

test('loadStateDict reports missing, unexpected and mismatched keys', () => {
  const net = buildNet();
  scope(() => {
    const state = new Map(net.stateDict());
    state.delete('1.bias');
    state.set('extra.weight', zeros([1]));
    state.set('1.weight', zeros([3, 4, 1, 1]));
    assert.throws(() => net.loadStateDict(state), (e: unknown) => e instanceof StateDictError &&
      e.missing.join() === '1.bias' && e.unexpected.join() === 'extra.weight' &&
      /1\.weight: module has \[2, 4, 1, 1\], state dict has \[3, 4, 1, 1\]/.test(e.message) && /strict: false/.test(e.message));
    state.set('1.weight', zeros([2, 4, 1, 1]));
    const result = net.loadStateDict(state, { strict: false });
    assert.deepEqual(result, { missing: ['1.bias'], unexpected: ['extra.weight'] });
    assert.equal(net.stateDict().get('1.weight')?.abs().sum().item(), 0);
  });
  net.dispose();
});

test('layers reject wrong input shapes with a ShapeError that says what was expected', () => {
  const conv = new Conv2d(3, 8, { kernelSize: 3 });
  scope(() => {
    assert.throws(() => conv.forward(zeros([1, 4, 8, 8])), (e: unknown) => e instanceof ShapeError && /expected input \[B, 3, H, W\], got \[1, 4, 8, 8\]/.test(e.message));
    assert.throws(() => new BatchNorm2d(2).forward(zeros([2, 3])), ShapeError);
  });
  assert.throws(() => new Conv2d(3, 8, { kernelSize: 1, groups: 2 }), /not divisible by groups 2/);
  conv.dispose();
});

test('forward and backward through modules leak no tensors', () => {
  const net = buildNet();
  const before = liveTensorCount();
  for (let i = 0; i < 3; i++) {
    scope(() => {
      const loss = net.forward(randn([2, 3, 6, 6])).sum();
      net.zeroGrad();
      loss.backward();
    });
  }
  net.zeroGrad();
  assert.equal(liveTensorCount(), before);
  net.dispose();
});

test('channels-last parameters and inputs give the same outputs and gradients as contiguous ones', () => {
  manualSeed(5);
  const net = new Sequential(new Block(3, 4), new Conv2d(4, 2, { kernelSize: 1 })); // no dropout: two passes must agree
  scope(() => {
    const input = randn([2, 3, 8, 8]);
    const reference = net.forward(input);
    reference.sum().backward();
    const referenceGrad = (net.parameters()[0].grad as Tensor).toTypedArray();
    net.zeroGrad();
    net.setMemoryFormat('channels_last');
    const output = net.forward(toMemoryFormat(input, 'channels_last'));
    output.sum().backward();
    assert.deepEqual(output.shape, reference.shape);
    assert.ok(output.sub(reference).abs().amax().item() < 1e-5);
    const grad = (net.parameters()[0].grad as Tensor).toTypedArray();
    assert.ok(grad.every((value, i) => Math.abs(Number(value) - Number(referenceGrad[i])) < 1e-4));
  });
  net.dispose();
});

test('fusing BatchNorm into the preceding convolution keeps eval outputs', () => {
  manualSeed(8);
  const net = new Sequential(new Conv2d(3, 6, { kernelSize: 3, padding: 1, bias: false }), new BatchNorm2d(6), new ReLU(),
    new Conv2d(6, 4, { kernelSize: 3, stride: 2, padding: 1 }), new BatchNorm2d(4), new Conv2d(4, 2, { kernelSize: 1 }));
  scope(() => { for (let i = 0; i < 3; i++) net.forward(randn([4, 3, 8, 8]).mul(2).add(1)); }); // non-trivial running stats
  net.eval();
  const before = liveTensorCount();
  const { model: fused, owned } = fuseSequentialForInference(net);
  assert.equal(fused.layers.length, 4);
  noGrad(() => scope(() => {
    const input = randn([2, 3, 8, 8]);
    const expected = net.forward(input);
    const actual = fused.forward(input);
    assert.ok(actual.sub(expected).abs().amax().item() < 1e-5);
  }));
  owned.forEach((conv) => conv.dispose());
  assert.equal(liveTensorCount(), before);
  net.dispose();
});
