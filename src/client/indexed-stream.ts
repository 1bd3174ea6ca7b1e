/**
 * A stream stored as a dynamic index, read at random (RandomAccess for the archive reader):
 * each read finds its chunks by binary search over the end offsets and fetches them through
 * the ChunkFetcher.
 *
 * Read-ahead keeps the fetcher busy: with a plan (the chunk indexes a restore will read, in
 * order, worked out from the metadata first) it fetches exactly those ahead of the reader;
 * without one, a reader moving forward gets the following chunks. Either way at most
 * `readAheadBytes` are fetched beyond the current read.
 */
import type { RandomAccess } from "../archive/source.ts";
import type { DynamicIndex } from "../datastore/dynamic-index.ts";
import type { ChunkFetcher } from "./chunk-fetcher.ts";

export interface IndexedStreamOptions {
  readAheadBytes?: number;
}

export class IndexedStream implements RandomAccess {
  private plan: number[] | null = null;
  private planPos = 0;
  private lastChunk = -1;
  private readonly readAhead: number;

  constructor(
    readonly index: DynamicIndex,
    private readonly fetcher: ChunkFetcher,
    options: IndexedStreamOptions = {},
  ) {
    this.readAhead = options.readAheadBytes ?? 32 * 1024 * 1024;
  }

  get size(): number {
    return this.index.size;
  }

  /** The chunks that will be read, in order (ascending runs; repeats are skipped). */
  setPlan(chunks: number[]): void {
    this.plan = chunks;
    this.planPos = 0;
  }

  /** Chunk indexes covering byte range [start, end) of the stream. */
  chunksCovering(start: number, end: number): number[] {
    if (end <= start) return [];
    const first = this.index.chunkAt(start).index;
    const last = this.index.chunkAt(Math.min(end, this.size) - 1).index;
    const out: number[] = [];
    for (let i = first; i <= last; i++) out.push(i);
    return out;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(offset + length, this.size);
    if (end <= offset) return new Uint8Array(0);
    let loc = this.index.chunkAt(offset);
    this.readAheadFrom(loc.index);
    const first = await this.fetcher.get(loc.digest);
    this.checkLength(first, loc.end - loc.start, loc.index);
    if (end <= loc.end) {
      this.lastChunk = loc.index;
      return first.subarray(offset - loc.start, end - loc.start);
    }
    const out = new Uint8Array(end - offset);
    out.set(first.subarray(offset - loc.start), 0);
    let at = loc.end - offset;
    while (at < out.byteLength) {
      loc = this.index.location(loc.index + 1);
      this.readAheadFrom(loc.index);
      const data = await this.fetcher.get(loc.digest);
      this.checkLength(data, loc.end - loc.start, loc.index);
      const take = Math.min(data.byteLength, out.byteLength - at);
      out.set(data.subarray(0, take), at);
      at += take;
    }
    this.lastChunk = loc.index;
    return out;
  }

  private checkLength(data: Uint8Array, expected: number, index: number): void {
    if (data.byteLength !== expected) {
      throw new Error(`chunk ${index} of the stream has ${data.byteLength} bytes, the index says ${expected}`);
    }
  }

  private readAheadFrom(current: number): void {
    let budget = this.readAhead;
    if (this.plan) {
      while (this.planPos < this.plan.length && this.plan[this.planPos]! < current) this.planPos++;
      for (let i = this.planPos; i < this.plan.length && budget > 0; i++) {
        const loc = this.index.location(this.plan[i]!);
        this.fetcher.prefetch(loc.digest);
        budget -= loc.end - loc.start;
      }
      return;
    }
    if (current < this.lastChunk) return; // moving backwards: random access, no read-ahead
    for (let i = current; i < this.index.chunkCount && budget > 0; i++) {
      const loc = this.index.location(i);
      this.fetcher.prefetch(loc.digest);
      budget -= loc.end - loc.start;
    }
  }
}
