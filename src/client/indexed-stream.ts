/**
 * A stream stored as a dynamic index, read at random (RandomAccess for the archive reader):
 * each read finds its chunks by binary search over the end offsets and fetches them through
 * the ChunkFetcher.
 *
 * Read-ahead keeps the fetcher busy: with a plan (the chunk indexes a restore will read, in
 * order, worked out from the metadata first) it fetches exactly those ahead of the reader;
 * without one, a reader moving forward gets the following chunks. Either way at most
 * `readAheadBytes` are fetched beyond the current read.
 *
 * With `passedChunks`, a planned chunk leaves the fetcher's cache as soon as the reader has
 * moved past its last place in the plan, so the cache holds only chunks the plan comes back to,
 * not the most recent ones whatever their future (a restore's payload: docs/benchmarks.md,
 * session 5). Only for a stream read once along its plan: a second pass would fetch again.
 * `"release"` also frees a dropped chunk's memory at once: for a reader that is done with every
 * view it got before it reads again (extraction copies each piece to its writer; `fileData`
 * with verification holds one piece back, so `restore --file` only drops).
 */
import type { RandomAccess } from "../archive/source.ts";
import type { DynamicIndex } from "../datastore/dynamic-index.ts";
import type { ChunkFetcher } from "./chunk-fetcher.ts";

export interface IndexedStreamOptions {
  readAheadBytes?: number;
  /** What becomes of a chunk once the plan has passed its last use (default: left to the fetcher's LRU). */
  passedChunks?: "drop" | "release";
}

export class IndexedStream implements RandomAccess {
  private plan: number[] | null = null;
  /** Plan position of the chunk read last (-1: none yet). */
  private planPos = -1;
  /** Next plan position not yet handed to the fetcher. */
  private ahead = 0;
  /** Bytes of the planned chunks after planPos already handed to the fetcher. */
  private aheadBytes = 0;
  private lastChunk = -1;
  private readonly readAhead: number;
  private readonly passedChunks: "drop" | "release" | undefined;
  /**
   * Digest -> its last position in the plan (with passedChunks). By digest, not chunk index:
   * the fetcher caches by digest, and one chunk can sit at several places (duplicate content).
   */
  private lastUse = new Map<string, number>();

  constructor(
    readonly index: DynamicIndex,
    private readonly fetcher: ChunkFetcher,
    options: IndexedStreamOptions = {},
  ) {
    this.readAhead = options.readAheadBytes ?? 32 * 1024 * 1024;
    this.passedChunks = options.passedChunks;
  }

  get size(): number {
    return this.index.size;
  }

  /**
   * The chunks that will be read, in the order they will be read (consecutive repeats left
   * out). The order need not be ascending: a file-tree payload holds files read after a run
   * of reused ones (docs/archive-format.md), so a restore jumps forward and back.
   */
  setPlan(chunks: number[]): void {
    this.plan = chunks;
    this.planPos = -1;
    this.ahead = 0;
    this.aheadBytes = 0;
    this.lastUse.clear();
    if (this.passedChunks) for (const [pos, i] of chunks.entries()) this.lastUse.set(this.index.digest(i), pos);
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
    // The chunk needed now goes to the fetcher before the read-ahead, which queues behind it.
    const wanted = this.fetcher.get(loc.digest);
    this.readAheadFrom(loc.index);
    const first = await wanted;
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
      const next = this.fetcher.get(loc.digest);
      this.readAheadFrom(loc.index);
      const data = await next;
      this.checkLength(data, loc.end - loc.start, loc.index);
      const take = Math.min(data.byteLength, out.byteLength - at);
      out.set(data.subarray(0, take), at);
      at += take;
    }
    this.lastChunk = loc.index;
    return out;
  }

  /** Up to `length` bytes from `offset`, never past the end of the chunk holding it: a view, no copy. */
  async readSome(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(offset + length, this.size);
    if (end <= offset) return new Uint8Array(0);
    const loc = this.index.chunkAt(offset);
    const wanted = this.fetcher.get(loc.digest);
    this.readAheadFrom(loc.index);
    const data = await wanted;
    this.checkLength(data, loc.end - loc.start, loc.index);
    this.lastChunk = loc.index;
    return data.subarray(offset - loc.start, Math.min(end, loc.end) - loc.start);
  }

  private checkLength(data: Uint8Array, expected: number, index: number): void {
    if (data.byteLength !== expected) {
      throw new Error(`chunk ${index} of the stream has ${data.byteLength} bytes, the index says ${expected}`);
    }
  }

  private chunkLength(i: number): number {
    return this.index.endOffset(i) - (i === 0 ? 0 : this.index.endOffset(i - 1));
  }

  private readAheadFrom(current: number): void {
    const plan = this.plan;
    if (plan) {
      this.advancePlan(plan, current);
      while (this.ahead < plan.length && this.aheadBytes < this.readAhead) {
        const i = plan[this.ahead++]!;
        this.fetcher.prefetch(this.index.digest(i));
        this.aheadBytes += this.chunkLength(i);
      }
      return;
    }
    if (current < this.lastChunk) return; // moving backwards: random access, no read-ahead
    let budget = this.readAhead;
    for (let i = current; i < this.index.chunkCount && budget > 0; i++) {
      const loc = this.index.location(i);
      this.fetcher.prefetch(loc.digest);
      budget -= loc.end - loc.start;
    }
  }

  /**
   * Moves the plan position to `current` when it is the next planned chunk (or a little
   * further: a skipped chunk). A read off the plan (a hardlink's target, say) leaves it.
   */
  private advancePlan(plan: number[], current: number): void {
    if (this.planPos >= 0 && plan[this.planPos] === current) return;
    const limit = Math.min(plan.length, Math.max(this.ahead, this.planPos + 1) + PLAN_SEARCH);
    for (let j = this.planPos + 1; j < limit; j++) {
      if (plan[j] !== current) continue;
      for (let k = this.planPos + 1; k <= j && k < this.ahead; k++) this.aheadBytes -= this.chunkLength(plan[k]!);
      if (this.passedChunks) this.dropPassed(plan, Math.max(this.planPos, 0), j);
      this.planPos = j;
      if (this.ahead <= j) {
        this.ahead = j + 1;
        this.aheadBytes = 0;
      }
      return;
    }
  }

  /** Drops the chunks at plan positions [from, to) that the plan does not come back to at `to` or later. */
  private dropPassed(plan: number[], from: number, to: number): void {
    for (let k = from; k < to; k++) {
      const digest = this.index.digest(plan[k]!);
      if (this.lastUse.get(digest)! < to) this.fetcher.drop(digest, this.passedChunks === "release");
    }
  }
}

/** How far past the read-ahead window a read may land and still count as following the plan. */
const PLAN_SEARCH = 64;
