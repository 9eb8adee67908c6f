// Sizes that would make a model allocate gigabytes are refused when the config is parsed, naming the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../errors.js';
import { parseRunConfig } from './config.js';

const data = { kind: 'camvid', root: '/data/camvid' };

test('parseRunConfig refuses widths no real model has, naming the key', () => {
  for (const [model, key] of [
    [{ widthMultiplier: 8 }, 'model.widthMultiplier'], [{ asppChannels: 1e6 }, 'model.asppChannels'], [{ decoderChannels: 5000 }, 'model.decoderChannels'],
  ] as const) {
    assert.throws(() => parseRunConfig({ data, model }), (error: unknown) => error instanceof ConfigError && error.message.includes(key), key);
  }
  assert.throws(() => parseRunConfig({ data, pretrain: { head: { width: 1e5 } } }), /pretrain\.head\.width/);
  assert.equal(parseRunConfig({ data, model: { widthMultiplier: 4, asppChannels: 4096 } }).model.widthMultiplier, 4);
});

test('the method chooses the pretraining loss: method and pretrain.loss cannot disagree', () => {
  for (const method of ['within', 'cross', 'batch', 'official'] as const) {
    const config = parseRunConfig({ data, method });
    assert.equal(config.method, method);
    assert.equal(config.pretrain.loss, method, `method ${method} pretrains with its own loss`);
  }
  const defaults = parseRunConfig({ data });
  assert.deepEqual([defaults.method, defaults.pretrain.loss], ['within', 'within']);
  const lossOnly = parseRunConfig({ data, pretrain: { loss: 'cross' } });
  assert.deepEqual([lossOnly.method, lossOnly.pretrain.loss], ['cross', 'cross'], 'pretrain.loss alone sets the method');
  assert.equal(parseRunConfig({ data, method: 'ce' }).method, 'ce');
  assert.throws(() => parseRunConfig({ data, method: 'cross', pretrain: { loss: 'within' } }),
    (error: unknown) => error instanceof ConfigError && /pretrain\.loss: "within" contradicts method "cross"/.test(error.message));
  // a resolved config (as a run dir's config.json holds it) parses to itself
  const resolved = parseRunConfig({ data, method: 'batch' });
  assert.deepEqual(parseRunConfig(JSON.parse(JSON.stringify(resolved))), resolved);
});

test('pretrain.anchorsPerClass: null by default (every pixel an anchor, as in the paper), a positive integer, not with the official loss', () => {
  assert.equal(parseRunConfig({ data }).pretrain.anchorsPerClass, null);
  assert.equal(parseRunConfig({ data, method: 'cross', pretrain: { anchorsPerClass: 64 } }).pretrain.anchorsPerClass, 64);
  assert.throws(() => parseRunConfig({ data, pretrain: { anchorsPerClass: 0 } }), (error: unknown) => error instanceof ConfigError && /pretrain\.anchorsPerClass/.test(error.message));
  for (const input of [{ method: 'official' }, { pretrain: { loss: 'official' } }]) {
    assert.throws(() => parseRunConfig({ data, ...input, pretrain: { ...(input as { pretrain?: object }).pretrain, anchorsPerClass: 8 } }),
      (error: unknown) => error instanceof ConfigError && /pretrain\.anchorsPerClass: the official loss/.test(error.message), JSON.stringify(input));
  }
});
