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
