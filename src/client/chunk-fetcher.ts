/**
 * Fetches chunks for restore (and for reading the previous snapshot during a backup): many
 * requests in flight, each chunk fetched once while it is wanted (concurrent asks share one
 * request), decoded and checked against its digest.
 *
 * Two stores, because they hold different things: chunks fetched ahead and not read yet wait in
 * `ready` until their first get() (bounded by the caller's read-ahead window, plus a cap for
 * chunks a plan skipped), and chunks already read stay in a byte-bounded LRU (`cacheBytes`) for
 * small reads that come back to them. With one LRU for both, the cache had to be larger than
 * the read-ahead window or it evicted chunks fetched ahead before they were read, and it stayed
 * full of chunks nobody would read again: an image restore kept 24 MiB of written chunks alive
 * (docs/benchmarks.md, peak RSS).
 */
import { shortDigest } from "../datastore/digest.ts";
import { withContext } from "../util/errors.ts";
import { releaseBuffer } from "../util/release-buffer.ts";
import type { CryptConfig } from "./crypt.ts";
import type { GcPacer } from "./gc-pacer.ts";
import { Limiter } from "./limiter.ts";

export type FetchRaw = (digest: string) => Promise<Uint8Array>;
/** Decodes a fetched blob to the chunk's plaintext and checks its digest (on a worker or here). */
export type DecodeChunk = (blob: Uint8Array, digest: string) => Promise<Uint8Array>;

export interface FetcherStats {
  /** Chunks fetched and bytes on the wire (encoded), bytes after decoding. */
  chunks: number;
  wireBytes: number;
  bytes: number;
  cacheHits: number;
}

export interface ChunkFetcherOptions {
  maxInFlight?: number;
  /** Chunks already read, kept for reads that come back to them (LRU). 0 keeps none. */
  cacheBytes?: number;
  /**
   * Chunks fetched ahead and not read yet. Read-ahead (indexed-stream.ts, restore-image.ts)
   * bounds them by itself; this cap only drops the oldest when a plan skipped some.
   */
  readyBytes?: number;
  decode?: DecodeChunk;
  /** Told about every chunk fetched (gc-pacer.ts). */
  gc?: GcPacer;
}

export class ChunkFetcher {
  readonly stats: FetcherStats = { chunks: 0, wireBytes: 0, bytes: 0, cacheHits: 0 };
  /** Chunks read at least once, least recently used first. */
  private readonly cache: BytesBoundedMap;
  /** Chunks fetched ahead, not read yet, oldest first. */
  private readonly ready: BytesBoundedMap;
  private readonly inFlight = new Map<string, InFlight>();
  private readonly wire: Limiter;
  private readonly decode: DecodeChunk;

  constructor(
    private readonly fetchRaw: FetchRaw,
    crypt: CryptConfig,
    options: ChunkFetcherOptions = {},
  ) {
    this.wire = new Limiter(options.maxInFlight ?? 8);
    const cacheBytes = options.cacheBytes ?? 128 * 1024 * 1024;
    this.cache = new BytesBoundedMap(cacheBytes);
    this.ready = new BytesBoundedMap(options.readyBytes ?? Math.max(cacheBytes, 32 * 1024 * 1024));
    this.decode = options.decode ?? (async (blob, digest) => crypt.decodeChunk(blob, digest));
    this.gc = options.gc;
  }

  private readonly gc: GcPacer | undefined;

  /** The plaintext of a chunk. */
  get(digest: string): Promise<Uint8Array> {
    const hit = this.cache.take(digest);
    if (hit) {
      this.stats.cacheHits++;
      this.cache.add(digest, hit); // most recently used goes last
      return Promise.resolve(hit);
    }
    const ahead = this.ready.take(digest);
    if (ahead) {
      this.stats.cacheHits++;
      this.cache.add(digest, ahead);
      return Promise.resolve(ahead);
    }
    const f = this.inFlight.get(digest) ?? this.start(digest);
    f.wanted = true;
    return f.promise;
  }

  /** Starts fetching a chunk that will be read soon; errors surface on the later get(). */
  prefetch(digest: string): void {
    if (this.cache.has(digest) || this.ready.has(digest) || this.inFlight.has(digest)) return;
    this.start(digest).promise.catch(() => {});
  }

  /**
   * Forgets a chunk the caller will not read again (indexed-stream.ts, when its plan has passed
   * the chunk's last use): it leaves both stores now instead of waiting for LRU eviction. With
   * `release` its memory is freed at once (util/release-buffer.ts): only when no view of it
   * handed out earlier is still in use.
   */
  drop(digest: string, release = false): void {
    for (const data of [this.cache.take(digest), this.ready.take(digest)]) if (data && release) releaseBuffer(data);
  }

  /** Chunks requested or queued right now (read-ahead uses it to stay within its window). */
  get busy(): number {
    return this.inFlight.size;
  }

  /** Bytes held: chunks read (LRU) and chunks fetched ahead, not read yet. */
  get heldBytes(): { cached: number; ready: number } {
    return { cached: this.cache.total, ready: this.ready.total };
  }

  private start(digest: string): InFlight {
    const f: InFlight = { wanted: false, promise: undefined as unknown as Promise<Uint8Array> };
    f.promise = this.load(digest)
      .then((data) => {
        // Asked for while it was on its way: read now, so it goes where read chunks go.
        (f.wanted ? this.cache : this.ready).add(digest, data);
        return data;
      })
      .finally(() => this.inFlight.delete(digest));
    this.inFlight.set(digest, f);
    return f;
  }

  private async load(digest: string): Promise<Uint8Array> {
    let data: Uint8Array;
    try {
      const blob = await this.wire.run(1, () => this.fetchRaw(digest));
      this.stats.wireBytes += blob.byteLength;
      data = await this.decode(blob, digest);
    } catch (err) {
      const short = shortDigest(digest);
      throw (err as Error)?.message?.includes(short) ? err : withContext(`chunk ${short}`, err);
    }
    this.stats.chunks++;
    this.stats.bytes += data.byteLength;
    this.gc?.noteBytes(data.byteLength);
    return data;
  }
}

/** Chunks by digest in insertion order, bounded by bytes: adding past the bound drops the oldest. */
class BytesBoundedMap {
  private readonly map = new Map<string, Uint8Array>();
  total = 0;

  constructor(private readonly limit: number) {}

  has(digest: string): boolean {
    return this.map.has(digest);
  }

  /** Removes and returns a chunk. */
  take(digest: string): Uint8Array | undefined {
    const v = this.map.get(digest);
    if (v) {
      this.map.delete(digest);
      this.total -= v.byteLength;
    }
    return v;
  }

  /** Adds a chunk as the newest (one larger than the bound is not kept). */
  add(digest: string, data: Uint8Array): void {
    if (data.byteLength > this.limit) return;
    this.take(digest);
    this.map.set(digest, data);
    this.total += data.byteLength;
    for (const [d, v] of this.map) {
      if (this.total <= this.limit) break;
      this.map.delete(d);
      this.total -= v.byteLength;
    }
  }
}

interface InFlight {
  promise: Promise<Uint8Array>;
  /** A get() asked for it (not only a prefetch). */
  wanted: boolean;
}

/**
 * One fetcher (and cache) per stream of an archive. The metadata stream is read slowly, between
 * file contents; with one shared LRU the payload flowing through would evict the metadata
 * chunks fetched ahead before the reader gets to them (measured: 5 % of the chunks twice).
 */
export interface StreamFetchers {
  meta: ChunkFetcher;
  data: ChunkFetcher;
}

/**
 * Cache sizes. Metadata: a tree's whole metadata stream when it is small (a restore reads it
 * twice: once to plan, once to extract). Data: chunks already read are kept for a plan that
 * comes back to them (files read after a reused run sit behind it in the payload, so a restore
 * jumps forward and back); the restore's payload stream drops every other chunk once read
 * (indexed-stream.ts `passedChunks`), so this bound only caps those. The chunks fetched ahead
 * are bounded by the read-ahead window (restore-tree.ts, 8 MiB), capped here. Measured on the
 * 1 GiB benchmark restore (a snapshot after the mutation), before the drops: LRU 8 MiB fetched
 * 60 of 971 chunks twice, 16 MiB none; with the drops it holds 1.5-13 MiB and fetches 925
 * chunks, not 944 (a duplicate chunk is kept until its last use, not until the LRU evicts it).
 */
export const META_CACHE_BYTES = 16 * 1024 * 1024;
export const DATA_CACHE_BYTES = 16 * 1024 * 1024;
export const DATA_READY_BYTES = 24 * 1024 * 1024;

export function streamFetchers(
  fetchRaw: FetchRaw,
  crypt: CryptConfig,
  o: { parallel?: number; decode?: DecodeChunk; decodePayload?: DecodeChunk; gc?: GcPacer } = {},
): StreamFetchers & { stats(): FetcherStats } {
  const meta = new ChunkFetcher(fetchRaw, crypt, { maxInFlight: 4, cacheBytes: META_CACHE_BYTES, decode: o.decode, gc: o.gc });
  const data = new ChunkFetcher(fetchRaw, crypt, { maxInFlight: o.parallel ?? 8, cacheBytes: DATA_CACHE_BYTES, readyBytes: DATA_READY_BYTES, decode: o.decodePayload ?? o.decode, gc: o.gc });
  return {
    meta,
    data,
    stats: () => ({
      chunks: meta.stats.chunks + data.stats.chunks,
      wireBytes: meta.stats.wireBytes + data.stats.wireBytes,
      bytes: meta.stats.bytes + data.stats.bytes,
      cacheHits: meta.stats.cacheHits + data.stats.cacheHits,
    }),
  };
}

/**
 * An image restore reads each chunk once, in order (restore-image.ts): it keeps no chunks once
 * read, only those fetched ahead (READ_AHEAD chunks, 1 MiB each by default; capped here).
 */
export function imageFetcher(fetchRaw: FetchRaw, crypt: CryptConfig, o: { parallel?: number; decode?: DecodeChunk; gc?: GcPacer; readyBytes: number }): ChunkFetcher {
  return new ChunkFetcher(fetchRaw, crypt, { maxInFlight: o.parallel ?? 8, cacheBytes: 0, readyBytes: o.readyBytes, decode: o.decode, gc: o.gc });
}
