/**
 * Paces full garbage collections by work done, to keep the client's peak RSS bounded.
 *
 * A backup allocates a fresh buffer for nearly everything that flows (file pieces, chunk copies
 * for the encoder threads, encoded blobs, request bodies) and many small objects per file
 * walked (stats, paths, records, promises). JSC collects that lazily: measured on a 1 GiB tree,
 * 450-650 MiB of RSS, most of it garbage, against a live set of about 60 MiB. A full collection
 * costs 20-40 ms here (it marks the whole runtime), so it is run once per `everyBytes` of data
 * (32 MiB) or per `everyEntries` files walked (4096), not on a timer (a busy walk seldom
 * yields to timers). Measured on the 1 GiB benchmark (initial backup, compiled client):
 * collections every 32 MiB: 9.0 s, 213 MiB peak; every 64 MiB: 9.2 s, 239 MiB; every 128 MiB:
 * 8.6 s, 286 MiB; none paced (async hints only): 8.0 s, 363 MiB; before any of this, 625 MiB.
 */
import { edenGC } from "bun:jsc";
import { collectGarbage } from "../util/collect-garbage.ts";

export interface GcPacerOptions {
  everyBytes?: number;
  everyEntries?: number;
  /**
   * Every how many paced collections one is full; the others collect only the young objects
   * (an eden collection, ~2 ms here against 11-13 ms for a full one). Default 1: all full.
   */
  fullEvery?: number;
}

export class GcPacer {
  private bytes = 0;
  private entries = 0;
  private readonly everyBytes: number;
  private readonly everyEntries: number;
  private readonly fullEvery: number;
  /** Collections run and the milliseconds they took (for the client log). */
  readonly stats = { collections: 0, ms: 0 };

  constructor(options: GcPacerOptions = {}) {
    this.everyBytes = options.everyBytes ?? 32 * 1024 * 1024;
    this.everyEntries = options.everyEntries ?? 4096;
    this.fullEvery = Math.max(1, options.fullEvery ?? 1);
  }

  /** Data (chunk bytes) went through the pipeline. */
  noteBytes(n: number): void {
    this.bytes += n;
    if (this.bytes >= this.everyBytes) this.collect();
  }

  /** A file or directory was walked. */
  noteEntry(): void {
    if (++this.entries >= this.everyEntries) this.collect();
  }

  collect(): void {
    this.bytes = 0;
    this.entries = 0;
    const t = performance.now();
    if (++this.stats.collections % this.fullEvery === 0) collectGarbage();
    else edenGC();
    this.stats.ms += performance.now() - t;
  }
}
