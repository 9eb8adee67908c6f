/**
 * `contraseg serve` as a user runs it: a child process (tsx on src/cli/main.ts) with the committed tiny
 * model, driven over loopback, stopped with SIGTERM and SIGINT (graceful: exit 0, a request in flight
 * answered); option errors and a missing model as exit codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePngValues } from '../data/png.js';
import { ConfigError } from '../errors.js';
import { readWebFixtures } from '../deploy/server-fixtures.js';
import { parseServeArgs } from './serve.js';
import { EXIT_CODES, parseCommand, runCli } from './main.js';

const MAIN = join(fileURLToPath(new URL('.', import.meta.url)), 'main.ts');
const fixtures = readWebFixtures();

interface Served {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<{ code: number | null; stderr: string }>;
  /** Resolves when the server says it is stopping. */
  readonly stopping: Promise<void>;
}

/** Starts `contraseg serve --port 0` and resolves with the URL it prints. */
async function serve(...extra: string[]): Promise<Served> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', '--model', fixtures.modelFile, '--port', '0', '--threads', '1', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let stopped: () => void = () => undefined;
  const stopping = new Promise<void>((resolve) => { stopped = resolve; });
  child.stderr?.on('data', (part: Buffer) => {
    stderr += part.toString();
    if (stderr.includes('contraseg serve: stopping')) stopped();
  });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (part: Buffer) => {
      stdout += part.toString();
      const match = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout);
      if (match) resolve(match[1] as string);
    });
    void exited.then(({ code }) => reject(new Error(`serve exited with ${code} before listening: ${stderr}`)));
  });
  return { child, url, exited, stopping };
}

test('parseServeArgs: defaults, and each bad value named with its range', () => {
  assert.deepEqual(parseServeArgs(['--model', 'm.onnx']), {
    model: 'm.onnx', host: '127.0.0.1', port: 8080, maxBodyBytes: 20 * 1024 * 1024, maxPixels: 2048 * 2048, maxQueue: 16, threads: undefined,
  });
  assert.equal(parseServeArgs(['--model', 'm.onnx', '--port', '0', '--host', '0.0.0.0']).port, 0);
  assert.throws(() => parseServeArgs(['--model', 'm.onnx', '--port', '70000']), (error: unknown) =>
    error instanceof ConfigError && /--port: expected an integer in \[0, 65535\], got 70000/.test(error.message));
  assert.throws(() => parseServeArgs(['--model', 'm.onnx', '--max-body', '1.5']), /--max-body: expected an integer/);
  assert.throws(() => parseServeArgs(['--port', '80']), (error: unknown) => error instanceof ConfigError && /--model/.test(error.message));
  assert.throws(() => parseServeArgs(['--model', 'm.onnx', 'extra']), /too many arguments/);
  assert.equal(parseCommand(['serve', '--help']).kind, 'help');
});

test('contraseg serve with a missing model: exit code 4 (checkpoint) naming the file', async () => {
  let stderr = '';
  const code = await runCli(['serve', '--model', join(fixtures.modelFile, '..', 'absent.onnx')], { stdout: () => undefined, stderr: (text) => { stderr += text; } });
  assert.equal(code, EXIT_CODES.CHECKPOINT);
  assert.match(stderr, /absent\.onnx.*not found/);
});

test('contraseg serve: serves /health and /segment; SIGTERM while a request body is still arriving answers it, then exits 0', { timeout: 120_000 }, async () => {
  const served = await serve();
  try {
    const health = await (await fetch(`${served.url}/health`)).json() as { status: string; classNames: string[] };
    assert.equal(health.status, 'ok');
    assert.deepEqual(health.classNames, fixtures.classNames);
    // a request whose headers are in and whose body is still coming when SIGTERM arrives
    const half = Math.floor(fixtures.imagePng.length / 2);
    const request = httpRequest(`${served.url}/segment?format=png&mask=ids`, {
      method: 'POST', headers: { 'Content-Type': 'image/png', 'Content-Length': String(fixtures.imagePng.length) },
    });
    const answered = new Promise<{ status: number | undefined; body: Buffer }>((resolve, reject) => {
      request.on('response', (response) => {
        const parts: Buffer[] = [];
        response.on('data', (part: Buffer) => parts.push(part));
        response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(parts) }));
      });
      request.on('error', reject);
    });
    request.write(fixtures.imagePng.subarray(0, half));
    await new Promise((resolve) => setTimeout(resolve, 300));
    served.child.kill('SIGTERM');
    await served.stopping;
    request.end(fixtures.imagePng.subarray(half));
    const { status, body } = await answered;
    assert.equal(status, 200);
    const mask = decodePngValues(body, 'response')?.values;
    assert.equal(mask?.length, fixtures.width * fixtures.height);
    const { code, stderr } = await served.exited;
    assert.equal(code, 0, stderr);
    assert.match(stderr, /stopping/);
    await assert.rejects(fetch(`${served.url}/health`), 'no longer listening');
  } finally {
    served.child.kill('SIGKILL');
  }
});

test('contraseg serve: SIGINT stops it with exit 0; a busy port is a config error (exit 2)', { timeout: 120_000 }, async () => {
  const served = await serve();
  try {
    const port = new URL(served.url).port;
    let stderr = '';
    const code = await runCli(['serve', '--model', fixtures.modelFile, '--port', port], { stdout: () => undefined, stderr: (text) => { stderr += text; } });
    assert.equal(code, EXIT_CODES.CONFIG);
    assert.match(stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`));
    served.child.kill('SIGINT');
    const exited = await served.exited;
    assert.equal(exited.code, 0);
    assert.match(exited.stderr, /contraseg: SIGINT: stopping/);
    assert.doesNotMatch(exited.stderr, /checkpoint/, 'serve has no checkpoint to write');
  } finally {
    served.child.kill('SIGKILL');
  }
});
