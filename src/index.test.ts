import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as contraseg from './index.js';

test('the package root exports the documented engine surface', () => {
  for (const name of ['tensor', 'zeros', 'manualSeed', 'noGrad', 'scope', 'liveTensorCount', 'setNumThreads', 'nn', 'optim',
    'buildModel', 'loadBackboneWeights', 'withinImageContrastiveLoss', 'crossImageContrastiveLoss', 'batchContrastiveLoss', 'officialContrastiveLoss', 'createLoader', 'openDataset', 'datasetStats', 'saveSafetensors', 'loadSafetensors',
    'evaluate', 'predictMasks', 'predictProbabilities', 'ConfusionMatrix',
    'parseRunConfig', 'runTraining', 'loadTrainedModel', 'saveCheckpoint', 'resumeFromCheckpoint', 'downsampleLabels', 'renderReport', 'gradNorm', 'clipGradNorm', 'load', 'exportOnnx']) {
    assert.ok(name in contraseg, `${name} is not exported`);
  }
  assert.equal(typeof contraseg.nn.Conv2d, 'function');
  assert.equal(typeof contraseg.optim.SGD, 'function');
  assert.equal(typeof contraseg.optim.polySchedule, 'function');
});
