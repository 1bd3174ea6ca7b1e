/** Small bounded-memory helpers for GC and verify: recent-entry caches and a concurrency-limited loop. */

/**
 * A map of recent entries holding at most `capacity`: two generations, the older dropped whole
 * when the newer fills up. Approximately LRU and O(1) per call (a Map-based LRU that deletes
 * and re-inserts degrades badly in JS engines once deletions pile up at its front).
 */
export class LruMap<V> {
  private current = new Map<string, V>();
  private previous = new Map<string, V>();
  hits = 0;
  misses = 0;

  constructor(readonly capacity: number) {}

  get(key: string): V | undefined {
    let value = this.current.get(key);
    if (value === undefined) {
      value = this.previous.get(key);
      if (value !== undefined) this.set(key, value); // keep it fresh
    }
    if (value === undefined) this.misses++;
    else this.hits++;
    return value;
  }

  set(key: string, value: V): void {
    this.current.set(key, value);
    if (this.current.size >= this.capacity / 2) {
      this.previous = this.current;
      this.current = new Map();
    }
  }
}

/** A set of recently seen keys, bounded like LruMap. */
export class LruSet {
  private readonly map: LruMap<true>;

  constructor(capacity: number) {
    this.map = new LruMap(capacity);
  }

  get hits(): number {
    return this.map.hits;
  }

  get misses(): number {
    return this.map.misses;
  }

  /** True when `key` was seen recently (and keeps it fresh); otherwise remembers it. */
  seen(key: string): boolean {
    if (this.map.get(key)) return true;
    this.map.set(key, true);
    return false;
  }

  /** Whether `key` was seen recently, without remembering it. */
  has(key: string): boolean {
    return this.map.get(key) === true;
  }
}

/**
 * Runs `fn` over the items with at most `limit` in flight, pulling items lazily so an async
 * iterable of any length is consumed with bounded memory. Stops pulling once `stop()` is true.
 */
export async function forEachLimited<T>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
  stop: () => boolean = () => false,
): Promise<void> {
  const iterator = Symbol.asyncIterator in items ? (items as AsyncIterable<T>)[Symbol.asyncIterator]() : toAsync((items as Iterable<T>)[Symbol.iterator]());
  let failure: unknown = null;
  let done = false;
  // One shared pull: async iterators must not be advanced concurrently.
  let pulling: Promise<IteratorResult<T>> = Promise.resolve({ done: false, value: undefined as T });
  const next = () => (pulling = pulling.then(() => iterator.next()));
  const worker = async () => {
    while (!done && failure === null && !stop()) {
      const r = await next();
      if (r.done) {
        done = true;
        return;
      }
      try {
        await fn(r.value);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (!done) await iterator.return?.();
  if (failure !== null) throw failure;
}

function toAsync<T>(it: Iterator<T>): AsyncIterator<T> {
  return { next: async () => it.next() };
}
