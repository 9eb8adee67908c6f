/**
 * Typed access to the addon's c10d entry points (native/src/distributed.cc) and the translation of their
 * failures into DistributedError. The addon tags every c10d / Gloo failure "[c10d:<kind>] ".
 */
import { native, type Handle } from '../torch/native.js';
import { DistributedError, EngineError, type DistributedErrorKind } from '../errors.js';

/** Opaque c10d store (TCPStore or FileStore). */
export type StoreHandle = { readonly __store: unique symbol };
/** Opaque ProcessGroupGloo. */
export type GroupHandle = { readonly __group: unique symbol };

/** Where Gloo's device binds: a network interface (GLOO_SOCKET_IFNAME) or an address / host name. */
export interface GlooDeviceOptions {
  interface?: string;
  hostname?: string;
}

interface C10dAddon {
  distAvailable(): boolean;
  distTcpStore(host: string, port: number, isServer: boolean, worldSize: number, timeoutMs: number, waitWorkers: boolean): StoreHandle;
  distFileStore(path: string, worldSize: number, timeoutMs: number): StoreHandle;
  distStoreSet(store: StoreHandle, key: string, value: Uint8Array): void;
  distStoreGet(store: StoreHandle, key: string): Uint8Array;
  distStoreAdd(store: StoreHandle, key: string, amount: number): number;
  distStoreWait(store: StoreHandle, keys: string[], timeoutMs: number): void;
  distProcessGroupGloo(store: StoreHandle, rank: number, worldSize: number, timeoutMs: number, device: GlooDeviceOptions, threads: number): GroupHandle;
  distDestroyProcessGroup(group: GroupHandle): void;
  distAllReduce(group: GroupHandle, tensors: Handle[], op: string): void;
  distBroadcast(group: GroupHandle, tensors: Handle[], root: number): void;
  distAllGather(group: GroupHandle, tensor: Handle): Handle[];
  distBarrier(group: GroupHandle): void;
  distAllReduceSumAutograd(group: GroupHandle, tensor: Handle): Handle;
  distGroupInfo(group: GroupHandle): { rank: number; worldSize: number };
}

const KINDS: readonly DistributedErrorKind[] = ['timeout', 'peer', 'store', 'usage', 'unavailable'];
const TAG = /\[c10d:([a-z]+)\] /;

/** The addon's c10d surface. */
export const c10d = native as unknown as C10dAddon;

/**
 * Turns a tagged engine error into a DistributedError whose message starts with `context` (what was being
 * done) and ends with `hint` (how to fix it). Other errors pass through unchanged.
 */
export function translateError(error: unknown, context: string, hint: string): unknown {
  if (!(error instanceof EngineError)) return error;
  const match = TAG.exec(error.message);
  if (match === null) return error;
  const kind = KINDS.includes(match[1] as DistributedErrorKind) ? (match[1] as DistributedErrorKind) : 'usage';
  // The engine's guard appends the argument types; they say nothing here.
  const reason = error.message.slice(match.index + match[0].length).replace(/ \(arguments: [^)]*\)$/, '');
  return new DistributedError(`${context}: ${reason}${hint === '' ? '' : `. ${hint}`}`, kind);
}

/** Runs fn, rethrowing c10d failures as DistributedError (see translateError). */
export function withC10d<T>(context: string, hint: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw translateError(error, context, hint);
  }
}

/** Whether the addon was built with Gloo (libgloo-dev's headers present at build time). */
export function distributedAvailable(): boolean {
  return typeof c10d.distAvailable === 'function' && c10d.distAvailable();
}
