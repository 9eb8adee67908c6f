/**
 * Deterministic tensor memory: every tensor created inside `scope(fn)` is freed when fn returns,
 * except the tensors it returns (which move to the enclosing scope). Training loops must never rely
 * on the garbage collector: measured 40% slower and 5 GB RSS when intermediates were left to it.
 */
import { native } from './native.js';

/** What the scope machinery needs of a tensor (implemented by Tensor). */
export interface Disposable {
  dispose(): void;
}

const frames: Set<Disposable>[] = [];

/** Registers a new tensor with the innermost open scope (called by the Tensor constructor). */
export function track(tensor: Disposable): void {
  const top = frames[frames.length - 1];
  if (top !== undefined) top.add(tensor);
}

/**
 * Removes a tensor from every open scope so that it outlives them (model parameters, optimiser
 * state, caches). The caller becomes responsible for disposing it.
 */
export function keep<T extends Disposable>(tensor: T): T {
  for (const frame of frames) frame.delete(tensor);
  return tensor;
}

/**
 * Finds the tensors of a scope's result: kept ones (directly, or in arrays, Sets, Maps and plain objects,
 * nested to any depth) and hidden ones, which sit inside class instances and cannot be kept safely: their
 * private fields are out of sight, so a Batch-like object would come back holding freed tensors.
 */
class ResultWalk {
  readonly kept = new Set<Disposable>();
  /** Tensors met inside a class instance, with their path and the instance's class (the first path met). */
  readonly hidden = new Map<Disposable, { path: string; owner: string }>();
  private readonly seen = new Set<object>();
  private readonly path: string[] = ['result'];

  visit(value: unknown, owner: string | undefined): void {
    if (value === null || typeof value !== 'object') return;
    if (isTracked(value)) {
      if (owner === undefined) this.kept.add(value);
      else if (!this.hidden.has(value)) this.hidden.set(value, { path: this.path.join(''), owner });
      return;
    }
    if (this.seen.has(value)) return;
    this.seen.add(value);
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Promise || value instanceof Date || value instanceof RegExp) return;
    if (Array.isArray(value) || value instanceof Set) {
      let index = 0;
      for (const item of value) {
        if (item !== null && typeof item === 'object') this.at(`[${index}]`, item, owner);
        index++;
      }
    } else if (value instanceof Map) {
      for (const [key, item] of value) {
        this.at('.keys()', key, owner);
        this.at(`.get(${typeof key === 'string' ? JSON.stringify(key) : String(key)})`, item, owner);
      }
    } else {
      const prototype = Object.getPrototypeOf(value) as object | null;
      const plain = prototype === Object.prototype || prototype === null;
      const inside = owner ?? (plain ? undefined : `${(value as { constructor?: { name?: string } }).constructor?.name || 'anonymous class'} instance`);
      for (const [key, item] of Object.entries(value)) this.at(`.${key}`, item, inside);
    }
  }

  private at(segment: string, value: unknown, owner: string | undefined): void {
    if (value === null || typeof value !== 'object') return;
    this.path.push(segment);
    this.visit(value, owner);
    this.path.pop();
  }
}

let isTracked: (value: object) => value is Disposable = (_value): _value is Disposable => false;
/** @internal Tells the scope machinery how to recognise tensors (set by tensor.ts). */
export function setTensorPredicate(predicate: (value: object) => value is Disposable): void {
  isTracked = predicate;
}

/**
 * Runs `fn` and frees every tensor it created except those in its result: a tensor, or tensors inside
 * arrays, Sets, Maps and plain objects, nested to any depth. Synchronous only: an async fn would let other
 * code run while the scope is open.
 * @throws TypeError if fn returns a Promise, or a result holding one of the scope's tensors inside a class
 * instance (return a plain object instead, or keep() the tensor); every tensor of the scope is freed then.
 */
export function scope<T>(fn: () => T): T {
  const frame = new Set<Disposable>();
  frames.push(frame);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    frames.pop();
    for (const tensor of frame) tensor.dispose();
    throw error;
  }
  frames.pop();
  if (result instanceof Promise) {
    for (const tensor of frame) tensor.dispose();
    throw new TypeError('scope(fn): fn returned a Promise; scopes are synchronous. Await outside and scope the synchronous part.');
  }
  const walk = new ResultWalk();
  walk.visit(result, undefined);
  for (const [tensor, { path, owner }] of walk.hidden) {
    if (!frame.has(tensor) || walk.kept.has(tensor)) continue;
    for (const created of frame) created.dispose();
    throw new TypeError(`scope(fn): the result holds a tensor created in the scope at ${path}, inside a ${owner}; ` +
      'scope() keeps only tensors returned directly or inside arrays, Sets, Maps and plain objects, so it would be freed. ' +
      'Return the tensors in a plain object or an array (e.g. { logits, loss }) and build the instance outside the scope, ' +
      'or keep() them inside fn and dispose them yourself.');
  }
  const parent = frames[frames.length - 1];
  for (const tensor of frame) {
    if (walk.kept.has(tensor)) parent?.add(tensor);
    else tensor.dispose();
  }
  return result;
}

/** Number of native tensors alive (created and not yet disposed or collected). For leak tests. */
export function liveTensorCount(): number {
  return native.liveTensorCount();
}

/** Runs `fn` with autograd recording off (inference, metric computation, in-place updates). */
export function noGrad<T>(fn: () => T): T {
  const previous = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

/** Sets the number of threads libtorch uses for intra-op parallelism (default: all cores). */
export function setNumThreads(threads: number): void {
  native.setNumThreads(threads);
}

/** Number of threads libtorch uses. */
export function getNumThreads(): number {
  return native.getNumThreads();
}
