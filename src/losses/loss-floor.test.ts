// contrastiveLossFloor against hand-computed values, and against the losses themselves: never above them on
// random features, and reached (to exp(-1/tau)) by class-orthogonal features.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../torch/creation.js';
import { scope } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { ShapeError } from '../errors.js';
import { contrastiveLossFloor } from './loss-floor.js';
import { batchContrastiveLoss, crossImageContrastiveLoss, withinImageContrastiveLoss } from './pixel-contrastive.js';

const labelsOf = (values: number[], shape: number[]): Tensor => tensor(values, shape, { dtype: 'int64' });

// Two 2x2 images. Image 0: classes 0,0,0,1; image 1: 1,1,255,2 (255 ignored).
const IMAGE_LABELS = [0, 0, 0, 1, 1, 1, 255, 2];

describe('contrastiveLossFloor', () => {
  it('matches hand computation for within, cross, batch and official', () => scope(() => {
    const labels = labelsOf(IMAGE_LABELS, [2, 2, 2]);
    // within: image 0 anchors: three of class 0 (|P| = 3), one of class 1 (|P| = 1) -> (3 ln 3 + 0) / 4;
    // image 1: two of class 1 (|P| = 2), one of class 2 (|P| = 1) -> (2 ln 2) / 3; mean over the two images.
    const within = ((3 * Math.log(3)) / 4 + (2 * Math.log(2)) / 3) / 2;
    assert.ok(Math.abs(contrastiveLossFloor('within', labels, labels) - within) < 1e-12);
    // cross, partners 0 <-> 1: image 0: class 0 -> 3 + 0, class 1 -> 1 + 2 -> (3 ln 3 + ln 3) / 4;
    // image 1: class 1 -> 2 + 1 = 3, class 2 -> 1 + 0 -> (2 ln 3) / 3.
    const cross = ((4 * Math.log(3)) / 4 + (2 * Math.log(3)) / 3) / 2;
    assert.ok(Math.abs(contrastiveLossFloor('cross', labels, labels) - cross) < 1e-12);
    // batch: class counts over both images 0:3, 1:3, 2:1; anchors 3x class 0, 3x class 1, 1x class 2.
    const batch = (3 * Math.log(3) + 3 * Math.log(3) + 0) / 7;
    assert.ok(Math.abs(contrastiveLossFloor('batch', labels, labels) - batch) < 1e-12);
    assert.equal(contrastiveLossFloor('official', labels, labels), 0);
  }));

  it('skips anchors without positives and images without anchors', () => scope(() => {
    const labels = labelsOf([0, 0, 1, 1, 255, 255, 255, 255], [2, 2, 2]);
    const distorted = labelsOf([0, 0, 0, 255, 1, 1, 1, 1], [2, 2, 2]); // no class 1 in view Î of image 0
    // image 0: the two class-0 anchors have |P| = 3; the class-1 anchors have none (skipped); image 1 has no anchor.
    assert.ok(Math.abs(contrastiveLossFloor('within', labels, distorted) - Math.log(3)) < 1e-12);
    const empty = labelsOf([255, 255, 255, 255], [1, 2, 2]);
    assert.equal(contrastiveLossFloor('within', empty, empty), 0);
  }));

  it('is never above the losses on random features', () => scope(() => {
    const labels = labelsOf([0, 1, 1, 2, 0, 0, 3, 1, 2, 2, 255, 1, 0, 3, 3, 1, 1, 0], [2, 3, 3]);
    for (let trial = 0; trial < 5; trial += 1) {
      const features = tensor(Array.from({ length: 2 * 4 * 9 }, () => Math.random() * 2 - 1), [2, 4, 3, 3], { dtype: 'float64' });
      const distorted = tensor(Array.from({ length: 2 * 4 * 9 }, () => Math.random() * 2 - 1), [2, 4, 3, 3], { dtype: 'float64' });
      const unit = (f: Tensor) => f.div(f.mul(f).sum([1], true).sqrt());
      const [f, g] = [unit(features), unit(distorted)];
      for (const temperature of [0.07, 1]) {
        const options = { temperature };
        assert.ok(withinImageContrastiveLoss(f, labels, g, labels, options).item() >= contrastiveLossFloor('within', labels, labels));
        assert.ok(crossImageContrastiveLoss(f, labels, g, labels, options).item() >= contrastiveLossFloor('cross', labels, labels));
        assert.ok(batchContrastiveLoss(f, labels, g, labels, options).item() >= contrastiveLossFloor('batch', labels, labels));
      }
    }
  }));

  it('is reached by class-orthogonal features up to |N| / |P| exp(-1 / tau)', () => scope(() => {
    // One-hot embeddings e_c: s = 1/tau for positives, 0 for negatives, so l(p) = log(|P| + |N| exp(-1/tau))
    // and l(p) - log |P| <= |N| / |P| exp(-1/tau) <= 8 exp(-1/tau) here (at most 8 pixels, |P| >= 1).
    const values = [0, 1, 1, 2, 0, 0, 3, 1];
    const labels = labelsOf(values, [2, 2, 2]);
    const oneHot = new Float64Array(2 * 4 * 4);
    values.forEach((label, i) => { const [b, pixel] = [Math.floor(i / 4), i % 4]; oneHot[(b * 4 + label) * 4 + pixel] = 1; });
    const features = tensor(oneHot, [2, 4, 2, 2], { dtype: 'float64' });
    const temperature = 0.05;
    const slack = 8 * Math.exp(-1 / temperature) + 1e-12; // + float64 rounding of logs of numbers <= 8
    for (const [kind, loss] of [['within', withinImageContrastiveLoss], ['cross', crossImageContrastiveLoss], ['batch', batchContrastiveLoss]] as const) {
      const value = loss(features, labels, features, labels, { temperature }).item();
      const floor = contrastiveLossFloor(kind, labels, labels);
      assert.ok(value >= floor && value - floor <= slack, `${kind}: loss ${value}, floor ${floor}`);
    }
  }));

  it('rejects bad shapes', () => scope(() => {
    const labels = labelsOf([0, 1, 1, 0], [1, 2, 2]);
    assert.throws(() => contrastiveLossFloor('within', labelsOf([0, 1], [2]), labels), ShapeError);
    assert.throws(() => contrastiveLossFloor('within', labels, labelsOf([0, 1, 1, 0, 0, 0, 1, 1], [2, 2, 2])), ShapeError);
    assert.throws(() => contrastiveLossFloor('cross', labels, labels), ShapeError);
  }));
});
