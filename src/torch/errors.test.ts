// Misuse of the engine raises EngineError carrying libtorch's explanation: never an abort or a segfault.
// Each row: a bad call and a fragment of the message a user needs to fix it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from './index.js';
import { EngineError } from '../errors.js';

const { tensor, zeros, full } = torch;
const ids = (values: number[], shape = [values.length]): torch.Tensor => tensor(values, shape, { dtype: 'int64' });

const misuses: [string, () => unknown, RegExp][] = [
  ['stack of no tensors', () => torch.stack([]), /stack expects a non-empty TensorList/],
  ['cat of no tensors', () => torch.cat([]), /expected a non-empty list of Tensors/],
  ['slice with step 0', () => zeros([4]).slice(0, 0, 4, 0), /slice step must be positive/],
  ['expand to a smaller size', () => zeros([3]).expand([2]), /expanded size of the tensor \(2\) must match the existing size \(3\)/],
  ['a negative dimension', () => zeros([-1]), /negative dimension -1/],
  ['arange with step 0', () => torch.arange(0, 10, 0), /step must be nonzero/],
  ['randint with low >= high', () => torch.randint(5, 2, [3]), /expects 'from' to be less than 'to'/],
  ['oneHot of a negative class', () => torch.oneHot(ids([-1]), 3), /Class values must be non-negative/],
  ['bincount of negative values', () => torch.bincount(ids([-1])), /1-d non-negative integral inputs/],
  ['bincount of floats', () => torch.bincount(zeros([2])), /not implemented for 'Float'/],
  ['gather with an index of another rank', () => torch.gather(zeros([2, 2]), 1, zeros([2], 'int64')),
    /Index tensor must have the same number of dimensions as input tensor/],
  ['indexSelect out of range', () => torch.indexSelect(zeros([2, 2]), 0, ids([5])), /index out of range in self/],
  ['interpolate to size 0', () => torch.interpolate(zeros([1, 1, 2, 2]), [0, 0]), /sizes should be greater than 0/],
  ['crossEntropy with a target of another shape', () => torch.crossEntropy(zeros([2, 3, 4, 4]), zeros([2, 5, 5], 'int64')),
    /size mismatch \(got input: \[2, 3, 4, 4\] , target: \[2, 5, 5\]/],
  ['crossEntropy with a class id >= C', () => torch.crossEntropy(zeros([1, 3, 2, 2]), full([1, 2, 2], 7, 'int64')),
    /Target 7 is out of bounds/],
  ['logSoftmax over a missing dim', () => torch.logSoftmax(zeros([2, 3]), 4), /Dimension out of range/],
  ['backward with a gradient of the wrong shape', () => zeros([2]).setRequiresGrad().mul(2).backward(zeros([3])),
    /invalid gradient at index 0 - got \[3\] but expected shape compatible with \[2\]/],
  ['setRngState with a corrupt state', () => torch.setRngState(new Uint8Array(5056).fill(255)), /Invalid mt19937 state/],
  ['an allocation larger than memory', () => zeros([1e6, 1e6]), /can't allocate memory/],
  ['matmul of int64 with float32', () => torch.matmul(zeros([2, 2], 'int64'), zeros([2, 2])), /expected scalar type Long but found Float/],
  ['conv2d kernel larger than the padded input', () => torch.conv2d(zeros([1, 1, 2, 2]), zeros([1, 1, 3, 3])),
    /Kernel size can't be greater than actual input size/],
  ['maxPool2d padding over half the kernel', () => torch.maxPool2d(zeros([1, 1, 4, 4]), 2, { padding: 2 }),
    /pad should be at most half of kernel size/],
  ['bmm of 2-D tensors', () => torch.bmm(zeros([2, 2]), zeros([2, 2])), /batch1 must be a 3D tensor/],
  ['dropout with p > 1', () => torch.dropout(zeros([2]), 1.5, true), /dropout probability has to be between 0 and 1, but got 1.5/],
  ['batchNorm in eval mode without running statistics', () => torch.batchNorm(zeros([2, 3, 2, 2]), { training: false }),
    /running_mean must be defined in evaluation mode/],
  ['clamp without bounds', () => torch.clamp(zeros([2]), null, null), /At least one of 'min' or 'max' must not be None/],
  ['where with a float condition', () => torch.where(zeros([2]), 1, 0), /where expected condition to be a boolean tensor/],
  ['permute with a repeated dim', () => zeros([2, 3]).permute([0, 0]), /duplicate dims are not allowed/],
  ['flatten with start after end', () => zeros([2, 3]).flatten(1, 0), /start_dim cannot come after end_dim/],
];

describe('engine misuse raises EngineError', () => {
  for (const [name, call, message] of misuses) {
    it(name, () => {
      const before = torch.liveTensorCount();
      torch.scope(() => assert.throws(call, (error: unknown) => {
        assert.ok(error instanceof EngineError, `expected EngineError, got ${String(error)}`);
        assert.match(error.message, message);
        return true;
      }));
      assert.equal(torch.liveTensorCount(), before, 'the failed call left handles behind');
    });
  }
});

describe('malformed arguments raise EngineError naming the entry point and the argument', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['a NaN dimension', () => zeros([Number.NaN]), /^zeros: shape: expected integers, got -?nan \(arguments: \[-?nan\], 'float32'\)$/],
    ['a fractional dimension', () => zeros([2.5]), /^zeros: shape: expected integers, got 2\.5/],
    ['a fractional dim argument', () => zeros([2, 2]).sum(0.5), /^sum: dims: expected integers.*\(arguments: float32\[2, 2\], \[0\.5\], false\)$/],
    ['a dimension past 2^63', () => zeros([2 ** 70]), /^zeros: shape: expected integers within \+-2\^63/],
    ['a string dtype that does not exist', () => zeros([2], 'float16' as torch.DType), /^zeros: unknown dtype 'float16'.*\(arguments: \[2\], 'float16'\)$/],
  ];
  for (const [name, call, message] of cases) {
    it(name, () => {
      const before = torch.liveTensorCount();
      torch.scope(() => assert.throws(call, (error: unknown) => error instanceof EngineError && message.test(error.message)));
      assert.equal(torch.liveTensorCount(), before);
    });
  }
});
