/**
 * initProcessGroup(): torch.distributed.init_process_group(backend='gloo', init_method='env://') for
 * contraseg. Reads torchrun's environment contract (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK),
 * so that torchrun-style launchers, Slurm `srun` with those variables and Kubernetes jobs start it unchanged.
 */
import { ConfigError, DistributedError } from '../errors.js';
import { ProcessGroup, tcpStore, DEFAULT_TIMEOUT_MS, type Store } from './process-group.js';
import type { GlooDeviceOptions } from './native-c10d.js';

/** The launch variables, validated. */
export interface LaunchEnv {
  masterAddr: string;
  masterPort: number;
  worldSize: number;
  rank: number;
  localRank: number;
}

const CONTRACT = 'torchrun\'s contract: MASTER_ADDR (rank 0\'s host), MASTER_PORT (a free port there), WORLD_SIZE (number of ranks), ' +
  'RANK (0..WORLD_SIZE-1, unique), LOCAL_RANK (index on this machine)';

function integer(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number {
  const text = env[name];
  if (text === undefined || text.trim() === '') {
    throw new ConfigError(`environment variable ${name} is not set; distributed training needs ${CONTRACT}. ` +
      'Set it, or use `contraseg train --nproc N` to start N local ranks');
  }
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`environment variable ${name}='${text}' is not an integer in ${min}..${max}; ${CONTRACT}`);
  }
  return value;
}

/**
 * Reads and checks the launch variables.
 * @throws ConfigError naming the variable that is missing or malformed (RANK >= WORLD_SIZE included).
 */
export function readLaunchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv {
  const masterAddr = env.MASTER_ADDR?.trim() ?? '';
  if (masterAddr === '') {
    throw new ConfigError(`environment variable MASTER_ADDR is not set; distributed training needs ${CONTRACT}`);
  }
  if (/\s|\/|:\/\//.test(masterAddr)) {
    throw new ConfigError(`MASTER_ADDR='${masterAddr}' is not a host name or IP address (no scheme, path or spaces), e.g. 10.0.0.1 or node-0`);
  }
  const masterPort = integer(env, 'MASTER_PORT', 1, 65535);
  const worldSize = integer(env, 'WORLD_SIZE', 1, 1 << 20);
  const rank = integer(env, 'RANK', 0, 1 << 20);
  if (rank >= worldSize) throw new ConfigError(`RANK=${rank} is not below WORLD_SIZE=${worldSize}; ranks are 0..${worldSize - 1}`);
  const localRank = env.LOCAL_RANK === undefined ? rank : integer(env, 'LOCAL_RANK', 0, worldSize - 1);
  return { masterAddr, masterPort, worldSize, rank, localRank };
}

/** Whether the environment asks for a distributed run (WORLD_SIZE set and above 1). */
export function isDistributedLaunch(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.WORLD_SIZE !== undefined && env.WORLD_SIZE.trim() !== '' && env.WORLD_SIZE.trim() !== '1';
}

/** Options of initProcessGroup(). */
export interface InitOptions {
  /** Launch variables; default readLaunchEnv(process.env). */
  launch?: LaunchEnv;
  /** Bound on the rendezvous and on every collective (ms). Default DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Gloo's device; default GLOO_SOCKET_IFNAME's interface when set, else this host's name (torch's rule). */
  device?: GlooDeviceOptions;
  /** Gloo worker threads (default 2, torch's). */
  threads?: number;
}

/** A joined group with its store (kept alive with the group) and launch variables. */
export interface Distributed {
  group: ProcessGroup;
  store: Store;
  launch: LaunchEnv;
}

/**
 * Compares every rank's WORLD_SIZE with rank 0's through the store, and claims this RANK, so that a launcher
 * started with two different sizes or a RANK twice fails with a ConfigError saying so, instead of waiting
 * for a rank that never comes.
 */
function checkWorldSize(store: Store, launch: LaunchEnv): void {
  // Atomic: of two processes started with the same RANK, the second one learns it here.
  if (store.add(`contraseg/rank_claims/${launch.rank}`, 1) > 1) {
    throw new ConfigError(`RANK=${launch.rank} is already taken by another process of this job (WORLD_SIZE=${launch.worldSize}); ` +
      `give every process its own RANK in 0..${launch.worldSize - 1}`);
  }
  store.set(`contraseg/world_size/${launch.rank}`, String(launch.worldSize));
  if (launch.rank === 0) return;
  const rootSize = Number(store.get('contraseg/world_size/0'));
  if (rootSize !== launch.worldSize) {
    throw new ConfigError(`rank ${launch.rank} was started with WORLD_SIZE=${launch.worldSize} but rank 0 with WORLD_SIZE=${rootSize}; ` +
      'start every rank with the same WORLD_SIZE');
  }
}

/**
 * Joins the job described by the launch variables: rank 0 serves a TCPStore on MASTER_ADDR:MASTER_PORT,
 * every rank connects, then a Gloo process group links all ranks.
 * @throws ConfigError for missing or malformed variables, mismatched WORLD_SIZE or a RANK taken twice; DistributedError when
 * the store cannot be served or reached, or the ranks do not all arrive within the timeout.
 */
export function initProcessGroup(options: InitOptions = {}): Distributed {
  const launch = options.launch ?? readLaunchEnv();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // The server does not wait for the workers here: the world-size check must run first, and the group's
  // own rendezvous waits for every rank.
  const store = tcpStore({ host: launch.masterAddr, port: launch.masterPort, isServer: launch.rank === 0, worldSize: launch.worldSize,
    timeoutMs, waitWorkers: false });
  checkWorldSize(store, launch);
  const ifname = process.env.GLOO_SOCKET_IFNAME;
  const device = options.device ?? (ifname !== undefined && ifname !== '' ? { interface: ifname } : {});
  const group = ProcessGroup.create(store, { rank: launch.rank, worldSize: launch.worldSize, timeoutMs, device, threads: options.threads });
  if (group.worldSize !== launch.worldSize) throw new DistributedError('process group size differs from WORLD_SIZE', 'usage');
  return { group, store, launch };
}
