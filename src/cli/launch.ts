/**
 * `contraseg train --nproc N`: starts N local ranks of the same command with torchrun's environment
 * (MASTER_ADDR=127.0.0.1, a free MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK) and the cores split between
 * them, forwards SIGTERM, and waits. Each rank then joins through initProcessGroup() exactly as
 * under torchrun or srun. The exit status is the first failing rank's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContrasegError, type ErrorCode } from '../errors.js';
import { initProcessGroup, isDistributedLaunch, type Distributed } from '../distributed/index.js';
import type { CliIO } from './args.js';

/** A port the kernel says is free now (rank 0 binds it a moment later). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 29500));
    });
  });
}

/** The error code a rank's exit status stands for (the CLI's EXIT_CODES, inverted), else null. */
function codeOfExit(status: number, exitCodes: Readonly<Record<ErrorCode, number>>): ErrorCode | null {
  const found = Object.entries(exitCodes).find(([, value]) => value === status);
  return found === undefined ? null : (found[0] as ErrorCode);
}

/** Options of launchLocalRanks(). */
export interface LocalLaunch {
  /** The command and its arguments without --nproc, e.g. ['train', '--preset', 'camvid-quick']. */
  readonly argv: readonly string[];
  readonly nproc: number;
  /** libtorch threads per rank; default the cores divided between the ranks (at least 1). */
  readonly threadsPerRank?: number;
  readonly exitCodes: Readonly<Record<ErrorCode, number>>;
}

/**
 * Runs the ranks to completion. Ranks inherit stdout/stderr (only rank 0 prints progress and results).
 * @throws ContrasegError with the failing rank's code (CONFIG for exit 2, ...) when a rank fails.
 */
export async function launchLocalRanks(launch: LocalLaunch, io: CliIO): Promise<void> {
  const port = await freePort();
  const threads = launch.threadsPerRank ?? Math.max(1, Math.floor(availableParallelism() / launch.nproc));
  const here = fileURLToPath(import.meta.url);
  const entry = here.replace(/launch\.(ts|js)$/, `main${extname(here)}`); // src/cli/main.ts under tsx, dist/.../main.js built
  io.stderr(`contraseg: starting ${launch.nproc} ranks on 127.0.0.1:${port}, ${threads} thread(s) each\n`);
  const children: ChildProcess[] = [];
  const exits = Array.from({ length: launch.nproc }, (_, rank) => new Promise<{ rank: number; status: number }>((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, entry, ...launch.argv], {
      stdio: 'inherit',
      env: { ...process.env, MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), WORLD_SIZE: String(launch.nproc), RANK: String(rank),
        LOCAL_RANK: String(rank), CONTRASEG_NUM_THREADS: String(threads) },
    });
    children.push(child);
    child.on('close', (code, signal) => resolve({ rank, status: code ?? (signal === 'SIGTERM' ? 143 : signal === 'SIGINT' ? 130 : 1) }));
  }));
  // SIGTERM (a job scheduler's stop) is forwarded. Ctrl-C is not: the terminal already sends SIGINT to the
  // whole process group, ranks included, and a second SIGINT would make them quit without a checkpoint.
  const onTerm = (): void => { for (const child of children) child.kill('SIGTERM'); };
  process.on('SIGTERM', onTerm);
  try {
    const firstFailure = await firstNonZero(exits);
    const results = await Promise.all(exits);
    const failure = firstFailure ?? results.find((result) => result.status !== 0);
    if (failure === undefined) return;
    const code = codeOfExit(failure.status, launch.exitCodes);
    const message = `rank ${failure.rank} of ${launch.nproc} exited with status ${failure.status} (its error is printed above)`;
    if (code === null) throw new ContrasegError('ENGINE', `${message}; an unexpected failure (a bug): please report it`);
    throw new ContrasegError(code, message);
  } finally {
    process.off('SIGTERM', onTerm);
  }
}

/** The first rank to exit with a non-zero status (the cause; the others usually follow with peer errors), or null. */
async function firstNonZero(exits: Promise<{ rank: number; status: number }>[]): Promise<{ rank: number; status: number } | null> {
  return new Promise((resolve) => {
    let pending = exits.length;
    for (const exit of exits) {
      void exit.then((result) => {
        if (result.status !== 0) resolve(result);
        if (--pending === 0) resolve(null);
      });
    }
  });
}

/** Joins the job when this process was started as a rank (WORLD_SIZE > 1), else undefined. */
export function joinIfLaunched(timeoutMs: number): Distributed | undefined {
  if (!isDistributedLaunch()) return undefined;
  return initProcessGroup({ timeoutMs });
}
