/**
 * Starts ranks of testing-rank.ts as child processes with torchrun's variables (1 libtorch thread each)
 * and collects their JSON reports, for the distributed tests. A hard timeout kills every rank still
 * running, so a hang fails the test instead of blocking the suite.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const rankScript = join(here, 'testing-rank.ts');

/** What one rank did. */
export interface RankOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The last JSON line it printed, or null. */
  report: Record<string, unknown> | null;
  stderr: string;
  /** Wall-clock ms from the start of the launch to its exit. */
  elapsedMs: number;
  killedByHardTimeout: boolean;
}

/** A TCP port nothing listens on right now (the kernel's pick). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function lastJson(stdout: string): Record<string, unknown> | null {
  const lines = stdout.trim().split('\n').filter((line) => line.startsWith('{'));
  const last = lines.at(-1);
  return last === undefined ? null : (JSON.parse(last) as Record<string, unknown>);
}

/** Options of launchRanks(). */
export interface LaunchOptions {
  scenario: string;
  /** Environment of each rank on top of the common one (MASTER_*, WORLD_SIZE, RANK, LOCAL_RANK). */
  ranks: Record<string, string>[];
  /** The collectives' timeout inside the ranks (TEST_TIMEOUT_MS). */
  timeoutMs: number;
  /** Kill every rank after this many ms. */
  hardTimeoutMs: number;
}

/** Runs the ranks to completion (or the hard timeout) and returns each one's outcome, in rank order. */
export async function launchRanks(options: LaunchOptions): Promise<RankOutcome[]> {
  const start = Date.now();
  return Promise.all(options.ranks.map((rankEnv) => new Promise<RankOutcome>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', rankScript, options.scenario], {
      env: { ...process.env, CONTRASEG_NUM_THREADS: '1', OMP_NUM_THREADS: '1', TEST_TIMEOUT_MS: String(options.timeoutMs), ...rankEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, options.hardTimeoutMs);
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      let report: Record<string, unknown> | null = null;
      try { report = lastJson(stdout); } catch { report = null; }
      resolve({ exitCode, signal, report, stderr, elapsedMs: Date.now() - start, killedByHardTimeout: killed });
    });
  })));
}

/** The environment of `worldSize` local ranks on 127.0.0.1:port. */
export function localRanks(port: number, worldSize: number): Record<string, string>[] {
  return Array.from({ length: worldSize }, (_, rank) => ({
    MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), WORLD_SIZE: String(worldSize), RANK: String(rank), LOCAL_RANK: String(rank),
  }));
}
