/**
 * Stores and process groups: torch.distributed's c10d TCPStore / FileStore rendezvous and a Gloo process
 * group over it, with the collectives data-parallel training needs. Every call blocks until it completes
 * on every rank or fails; the group's timeout bounds each wait, so a dead or stuck peer ends in a
 * DistributedError (kind 'peer' at once when its connection closes, 'timeout' after the timeout otherwise).
 */
import { Tensor, wrap, handleOf, handlesOf } from '../torch/tensor.js';
import { DistributedError } from '../errors.js';
import { c10d, withC10d, distributedAvailable, type GlooDeviceOptions, type GroupHandle, type StoreHandle } from './native-c10d.js';

/** torch.distributed's default timeout is 30 min; a training step here is seconds, so 5 min is ample. */
export const DEFAULT_TIMEOUT_MS = 5 * 60 * 1000;

const UNAVAILABLE_HINT = 'Install libgloo-dev (Debian) and rebuild the addon with `npm run build:native`';

function requireGloo(): void {
  if (!distributedAvailable()) {
    throw new DistributedError(`distributed training is not available: the addon was built without Gloo. ${UNAVAILABLE_HINT}`, 'unavailable');
  }
}

/** A c10d key-value store shared by the ranks of one job (the rendezvous). */
export class Store {
  /** @internal */
  readonly handle: StoreHandle;
  /** Where it lives, for messages ('tcp://host:port' or 'file:///path'). */
  readonly address: string;

  /** @internal Use tcpStore() or fileStore(). */
  constructor(handle: StoreHandle, address: string) {
    this.handle = handle;
    this.address = address;
  }

  /** Sets `key` to a string or bytes. @throws DistributedError */
  set(key: string, value: string | Uint8Array): void {
    const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
    withC10d(`store ${this.address}: set '${key}'`, '', () => c10d.distStoreSet(this.handle, key, bytes));
  }

  /** The value of `key` as text, waiting up to the store's timeout for it to be set. @throws DistributedError */
  get(key: string): string {
    return new TextDecoder().decode(withC10d(`store ${this.address}: get '${key}'`,
      'A rank that should have set it did not get that far; look at the other ranks\' errors', () => c10d.distStoreGet(this.handle, key)));
  }

  /** Adds `amount` to the counter `key` atomically and returns the new value. @throws DistributedError */
  add(key: string, amount: number): number {
    return withC10d(`store ${this.address}: add '${key}'`, '', () => c10d.distStoreAdd(this.handle, key, amount));
  }

  /** Waits until every key is set. @throws DistributedError (kind 'timeout') after timeoutMs. */
  wait(keys: string[], timeoutMs: number): void {
    withC10d(`store ${this.address}: wait for ${keys.join(', ')}`, '', () => c10d.distStoreWait(this.handle, keys, timeoutMs));
  }
}

/** Options of tcpStore(). */
export interface TcpStoreOptions {
  host: string;
  port: number;
  /** The server (rank 0) binds host:port; the others connect to it. */
  isServer: boolean;
  worldSize: number;
  timeoutMs?: number;
  /** Server only: return once worldSize ranks have connected (default true). */
  waitWorkers?: boolean;
}

/**
 * torch.distributed.TCPStore: rank 0 serves it on host:port, every rank connects (retrying until the
 * timeout, so the ranks may start in any order).
 * @throws DistributedError kind 'store' (cannot bind: port in use) or 'timeout' (no server reachable).
 */
export function tcpStore(options: TcpStoreOptions): Store {
  requireGloo();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const address = `tcp://${options.host}:${options.port}`;
  const role = options.isServer ? `serving the TCPStore on ${address}` : `connecting to the TCPStore at ${address}`;
  const hint = options.isServer
    ? 'Check that MASTER_PORT is free on this machine (or pick another) and that MASTER_ADDR is one of its addresses'
    : `Check MASTER_ADDR/MASTER_PORT (they must name rank 0's machine and a port it can open) and that rank 0 is running; waited ${timeoutMs} ms`;
  const handle = withC10d(role, hint, () => c10d.distTcpStore(options.host, options.port, options.isServer, options.worldSize,
    timeoutMs, options.waitWorkers ?? true));
  return new Store(handle, address);
}

/** torch.distributed.FileStore over `path` (a file every rank can reach; delete it between jobs). @throws DistributedError */
export function fileStore(path: string, worldSize: number, timeoutMs = DEFAULT_TIMEOUT_MS): Store {
  requireGloo();
  const handle = withC10d(`opening the FileStore ${path}`, 'Check that the directory exists and is writable by every rank', () =>
    c10d.distFileStore(path, worldSize, timeoutMs));
  return new Store(handle, `file://${path}`);
}

/** Reductions of allReduce. 'avg' is the sum divided by the world size. */
export type ReduceOp = 'sum' | 'avg' | 'max' | 'min';

/** Options of ProcessGroup.create(). */
export interface ProcessGroupOptions {
  rank: number;
  worldSize: number;
  /** Bound on every collective's wait (and on connecting the ranks). Default DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Where Gloo binds; default: this host's name, falling back to loopback (torch's default). */
  device?: GlooDeviceOptions;
  /** Gloo's worker threads (torch's default is 2). */
  threads?: number;
}

/**
 * A Gloo process group: `worldSize` ranks that run the same collectives in the same order. Tensors are CPU
 * tensors, borrowed (in-place collectives write into them); allGather returns new tensors owned by the caller.
 */
export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly timeoutMs: number;
  private handle: GroupHandle | null;

  private constructor(handle: GroupHandle, rank: number, worldSize: number, timeoutMs: number) {
    this.handle = handle;
    this.rank = rank;
    this.worldSize = worldSize;
    this.timeoutMs = timeoutMs;
  }

  /**
   * Connects every pair of ranks over `store` (blocks until all worldSize ranks arrive).
   * @throws DistributedError kind 'timeout' when a rank does not arrive within timeoutMs.
   */
  static create(store: Store, options: ProcessGroupOptions): ProcessGroup {
    requireGloo();
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const handle = withC10d(`rank ${options.rank} of ${options.worldSize}: connecting the Gloo process group over ${store.address}`,
      `Check that all ${options.worldSize} ranks were started with the same WORLD_SIZE and distinct RANKs, and that they can reach each other (set GLOO_SOCKET_IFNAME to the interface to use)`,
      () => c10d.distProcessGroupGloo(store.handle, options.rank, options.worldSize, timeoutMs, options.device ?? {}, options.threads ?? 2));
    return new ProcessGroup(handle, options.rank, options.worldSize, timeoutMs);
  }

  private group(op: string): GroupHandle {
    if (this.handle === null) throw new DistributedError(`${op}: the process group was destroyed; create a new one`, 'usage');
    return this.handle;
  }

  private run<T>(op: string, fn: (group: GroupHandle) => T): T {
    const group = this.group(op);
    return withC10d(`rank ${this.rank} of ${this.worldSize}: ${op}`,
      `Another rank failed or stopped (see its own error); the timeout is ${this.timeoutMs} ms`, () => fn(group));
  }

  /**
   * Reduces every tensor across ranks, in place (tensors of one dtype travel as one buffer); 'avg' takes
   * floating-point tensors only.
   * @throws DistributedError
   */
  allReduce(tensors: Tensor | Tensor[], op: ReduceOp = 'sum'): void {
    const list = Array.isArray(tensors) ? tensors : [tensors];
    const handles = handlesOf(list, 'allReduce', 'tensors');
    const integral = list.find((item) => item.dtype !== 'float32' && item.dtype !== 'float64');
    if (op === 'avg' && integral !== undefined) {
      throw new DistributedError(`rank ${this.rank}: allReduce 'avg' needs float32 or float64 tensors, got ${integral.dtype}; ` +
        "use 'sum' and divide by the world size in the dtype you want", 'usage');
    }
    this.run(`allReduce (${op})`, (group) => c10d.distAllReduce(group, handles, op));
  }

  /** Copies rank `root`'s tensors into every rank's, in place. @throws DistributedError */
  broadcast(tensors: Tensor | Tensor[], root = 0): void {
    const handles = handlesOf(Array.isArray(tensors) ? tensors : [tensors], 'broadcast', 'tensors');
    this.run(`broadcast from rank ${root}`, (group) => c10d.distBroadcast(group, handles, root));
  }

  /** Every rank's `tensor` (same shape and dtype everywhere), in rank order; new tensors. @throws DistributedError */
  allGather(tensor: Tensor): Tensor[] {
    const handle = handleOf(tensor, 'allGather', 'tensor');
    return this.run('allGather', (group) => c10d.distAllGather(group, handle)).map((gathered) => wrap(gathered));
  }

  /** Returns once every rank has called barrier(). @throws DistributedError */
  barrier(): void {
    this.run('barrier', (group) => c10d.distBarrier(group));
  }

  /**
   * The sum of `tensor` over ranks as a new tensor in the autograd graph: its backward sums the incoming
   * gradients over ranks (so every rank must run backward through it, in the same order).
   * @throws DistributedError
   */
  allReduceSumAutograd(tensor: Tensor): Tensor {
    const handle = handleOf(tensor, 'allReduceSumAutograd', 'tensor');
    return wrap(this.run('allReduceSumAutograd', (group) => c10d.distAllReduceSumAutograd(group, handle)));
  }

  /** Closes the connections (idempotent). Collectives afterwards throw. */
  destroy(): void {
    if (this.handle !== null) c10d.distDestroyProcessGroup(this.handle);
    this.handle = null;
  }
}
