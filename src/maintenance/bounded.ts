/** Small bounded-memory helpers for GC and verify: recent-entry caches (bounded concurrency: src/util/for-each-limited.ts). */

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
