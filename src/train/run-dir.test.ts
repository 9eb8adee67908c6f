// A metrics line the disk refuses is a CheckpointError naming the file and the errno, not an untyped crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError } from '../errors.js';
import { appendMetrics, readMetrics } from './run-dir.js';

test('appendMetrics: a refused write is a CheckpointError naming metrics.jsonl and the cause', () => {
  const runDir = mkdtempSync(join(tmpdir(), 'contraseg-run-dir-'));
  try {
    appendMetrics(runDir, { kind: 'step', stage: 'finetune', step: 1, loss: 1 });
    assert.equal(readMetrics(runDir).length, 1);
    const blocked = join(runDir, 'blocked');
    mkdirSync(join(blocked, 'metrics.jsonl'), { recursive: true }); // a directory where the log should be: EISDIR for any user
    assert.throws(() => appendMetrics(blocked, { kind: 'step', stage: 'finetune', step: 1, loss: 1 }),
      (error: unknown) => error instanceof CheckpointError && error.file === join(blocked, 'metrics.jsonl') && /EISDIR/.test(error.message));
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
