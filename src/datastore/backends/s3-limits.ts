/**
 * Per-endpoint limits of one process: how many requests may be in flight at once, and how many
 * bytes per second may go up and come down. Every backend opened on the same endpoint in this
 * process shares one set (`limitsFor`), so ten datastores on one endpoint do not get ten times
 * the budget. Limits across processes are not coordinated: each role process has its own.
 */

/** Counting semaphore with FIFO hand-off. */
export class Semaphore {
  private available: number;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly size: number) {
    this.available = size;
  }

  async acquire(): Promise<() => void> {
    if (this.available > 0) this.available--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next(); // the slot passes straight to the next waiter
      else this.available++;
    };
  }

  get inFlight(): number {
    return this.size - this.available;
  }
}

/**
 * Token bucket in bytes. `take(n)` waits until the bytes are available; a request larger than
 * the burst is let through by going into debt, which later takes repay (so a 16 MiB chunk with a
 * 1 MiB/s limit waits ~16 s in total, spread over it and the next requests).
 */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly bytesPerSecond: number,
    readonly burst: number = bytesPerSecond,
  ) {
    this.tokens = burst;
  }

  take(bytes: number): Promise<void> {
    if (bytes <= 0) return Promise.resolve();
    // Serialized so that takers are served in arrival order.
    const turn = this.queue.then(async () => {
      this.refill();
      if (this.tokens <= 0) await Bun.sleep(Math.ceil((-this.tokens / this.bytesPerSecond) * 1000) + 1);
      this.refill();
      this.tokens -= bytes;
    });
    this.queue = turn.catch(() => {});
    return turn;
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
  }
}

export interface EndpointLimits {
  requests: Semaphore;
  upload: TokenBucket | null;
  download: TokenBucket | null;
}

const registry = new Map<string, EndpointLimits>();

/** The limits shared by every backend of this process on the endpoint (same name and settings). */
export function limitsFor(endpoint: string, maxRequests: number, rateLimit: number | null): EndpointLimits {
  const id = `${endpoint}\0${maxRequests}\0${rateLimit ?? ""}`;
  let limits = registry.get(id);
  if (!limits) {
    limits = {
      requests: new Semaphore(maxRequests),
      upload: rateLimit ? new TokenBucket(rateLimit) : null,
      download: rateLimit ? new TokenBucket(rateLimit) : null,
    };
    registry.set(id, limits);
  }
  return limits;
}
