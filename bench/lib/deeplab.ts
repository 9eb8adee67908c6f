/**
 * Issue 5's benchmark network: ResNet-18 DeepLabV3+ (OS 8) with a 21-class classifier, batch 4 x 3 x 256 x 256,
 * logits resized to the input, cross-entropy (ignore 255), SGD momentum 0.9. bench/deeplab_step.py is the
 * PyTorch side (the module tree of scripts/fixtures/reference_models.py).
 */
import { keep, noGrad, scope } from '../../src/torch/scope.js';
import { manualSeed, randint, randn } from '../../src/torch/creation.js';
import { crossEntropy } from '../../src/torch/ops/functional.js';
import { SGD } from '../../src/torch/optim/sgd.js';
import { buildSegmentationModel } from '../../src/models/build.js';
import type { BenchSteps } from './train-step-net.js';

/** Sizes of the DeepLab benchmark. */
export const DEEPLAB_BENCH = { batch: 4, size: 256, classes: 21, outputStride: 8 } as const;

/** Builds the DeepLab benchmark model and data; train() and infer() run one step each. */
export function createDeeplabSteps(): BenchSteps {
  const { batch, size, classes, outputStride } = DEEPLAB_BENCH;
  manualSeed(0);
  const model = buildSegmentationModel({
    network: { backbone: { kind: 'resnet18', outputStride } }, head: { kind: 'classifier', numClasses: classes },
  });
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const images = keep(randn([batch, 3, size, size]));
  const labels = keep(randint(0, classes, [batch, size, size]));
  return {
    train: () => scope(() => {
      model.train();
      const loss = crossEntropy(model.forwardAtInputSize(images), labels, { ignoreIndex: 255 });
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
    }),
    infer: () => noGrad(() => scope(() => {
      model.eval();
      model.forwardAtInputSize(images);
    })),
    dispose: () => {
      optimizer.dispose();
      model.dispose();
      images.dispose();
      labels.dispose();
    },
  };
}
