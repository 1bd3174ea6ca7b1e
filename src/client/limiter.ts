/**
 * A counting limit that async code waits on: the backpressure of the pipelines. Holders take
 * `amount` units (bytes, requests) and give them back; a waiter proceeds once its units fit,
 * in arrival order. A single request larger than the limit still runs, alone.
 */
export class Limiter {
  private used = 0;
  private waiters: Array<{ amount: number; go: () => void }> = [];

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  async acquire(amount = 1): Promise<void> {
    if (this.waiters.length === 0 && this.fits(amount)) {
      this.used += amount;
      return;
    }
    await new Promise<void>((go) => this.waiters.push({ amount, go }));
  }

  release(amount = 1): void {
    this.used -= amount;
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.amount)) {
      const w = this.waiters.shift()!;
      this.used += w.amount;
      w.go();
    }
  }

  async run<T>(amount: number, fn: () => Promise<T>): Promise<T> {
    await this.acquire(amount);
    try {
      return await fn();
    } finally {
      this.release(amount);
    }
  }

  private fits(amount: number): boolean {
    return this.used === 0 || this.used + amount <= this.limit;
  }
}
