/**
 * The upload end of the backup pipeline (DESIGN.md §5): digest -> dedup lookup -> compress +
 * encrypt (encoder pool, worker threads) -> upload only what the session does not know yet.
 *
 * The server has no "do you have it" query (docs/protocol.md: no dedup oracle), so dedup is
 * against what this session knows: chunks it uploaded, and every chunk of the previous
 * snapshot's indexes it downloaded. Everything else is uploaded; the server keeps one copy.
 *
 * Memory stays bounded: `add` waits while more than `maxInFlightBytes` of chunks are being
 * encoded or uploaded, and at most `maxUploads` requests are on the wire at once (over Bun's
 * keep-alive connection pool). The first failure stops the pipeline: the next `add` or `drain`
 * throws it, naming the chunk.
 */
import { shortDigest } from "../datastore/digest.ts";
import type { EncoderPool } from "../pipeline/encoder-pool.ts";
import { IbsError, withContext } from "../util/errors.ts";
import { releaseBuffer } from "../util/release-buffer.ts";
import { ApiRequestError } from "./http.ts";
import type { GcPacer } from "./gc-pacer.ts";
import { Limiter } from "./limiter.ts";

/**
 * Bytes being encoded (plaintext) or uploaded (the encoded blob) at once. Each byte in flight
 * costs more than one in RSS (the encoder's copy, the blob, the request body and the garbage
 * they leave until the next paced collection), so this is most of the client's working set.
 * Measured on the 1 GiB benchmark's initial backup into an empty datastore, counting plaintext
 * until the upload ended: 24 MiB 213-221 MiB peak, 12 MiB 185-189, 8 MiB 176-180, but 8 MiB
 * was ~1 s slower (10.6-11.6 s vs 9.0-10.6 s); see docs/benchmarks.md for the figures with
 * blobs counted at their encoded size.
 */
export const DEFAULT_IN_FLIGHT_BYTES = 8 * 1024 * 1024;

export interface UploadStats {
  /** Chunk references written to indexes (including reused and deduplicated ones). */
  chunks: number;
  bytes: number;
  /** Chunks uploaded by this backup, their plaintext bytes and their encoded (compressed, encrypted) bytes. */
  newChunks: number;
  newBytes: number;
  uploadedBytes: number;
  /** Chunks already known to the session (uploaded earlier in it, or in the previous snapshot). */
  knownChunks: number;
  knownBytes: number;
  /** Image chunks that were all zero (never hashed; uploaded at most once). */
  zeroChunks: number;
  /** Chunks of the previous snapshot appended by change detection without reading anything. */
  reusedChunks: number;
  reusedBytes: number;
}

export function emptyUploadStats(): UploadStats {
  return { chunks: 0, bytes: 0, newChunks: 0, newBytes: 0, uploadedBytes: 0, knownChunks: 0, knownBytes: 0, zeroChunks: 0, reusedChunks: 0, reusedBytes: 0 };
}

export interface ChunkUploaderOptions {
  maxInFlightBytes?: number;
  maxUploads?: number;
  /** Told about every new chunk's bytes (gc-pacer.ts). */
  gc?: GcPacer;
}

export type UploadChunk = (digest: string, blob: Uint8Array) => Promise<void>;

export class ChunkUploader {
  readonly stats: UploadStats = emptyUploadStats();
  private readonly known = new Set<string>();
  private readonly memory: Limiter;
  private readonly wire: Limiter;
  private readonly pending = new Set<Promise<void>>();
  private failure: Error | undefined;

  constructor(
    private readonly pool: Pick<EncoderPool, "encode">,
    private readonly send: UploadChunk,
    options: ChunkUploaderOptions = {},
  ) {
    this.memory = new Limiter(options.maxInFlightBytes ?? DEFAULT_IN_FLIGHT_BYTES);
    this.wire = new Limiter(options.maxUploads ?? 8);
    this.gc = options.gc;
  }

  private readonly gc: GcPacer | undefined;

  /** Marks digests as present on the server for this session (a downloaded previous index). */
  addKnown(digests: Iterable<string>): void {
    for (const d of digests) this.known.add(d);
  }

  isKnown(digest: string): boolean {
    return this.known.has(digest);
  }

  /**
   * Takes the next chunk of an index. The caller may reuse `data` once this returns (the pool
   * copies it); the returned promise is the backpressure.
   */
  async add(data: Uint8Array, digest: string): Promise<void> {
    await this.failIfFailed();
    const n = data.byteLength;
    this.stats.chunks++;
    this.stats.bytes += n;
    if (this.known.has(digest)) {
      this.stats.knownChunks++;
      this.stats.knownBytes += n;
      return;
    }
    // Only new chunks pace collections: a known chunk leaves no garbage (read into a reused
    // buffer, hashed, dropped), and counting an image's 2 GiB of known and zero chunks ran
    // ~60 full collections (~0.7 s of this thread) that freed nothing.
    this.gc?.noteBytes(n);
    this.known.add(digest);
    this.stats.newChunks++;
    this.stats.newBytes += n;
    await this.memory.acquire(n);
    await this.failIfFailed();
    let job: Promise<void>;
    let held = n;
    try {
      // A plain Uint8Array view: the pool copies with .slice() and transfers the copy's buffer,
      // and Buffer#slice does not copy, so a Buffer would have its whole backing store detached.
      const encoded = this.pool.encode(Buffer.isBuffer(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data);
      job = encoded
        .then((blob) => {
          // The chunk's copy went back to the encoder pool: while it uploads, only the blob
          // (compressed: ~45 % of the plaintext on the benchmark) is held, so the same memory
          // keeps more uploads on the wire.
          const freed = n - Math.min(n, blob.byteLength);
          this.memory.release(freed);
          held -= freed;
          return this.wire.run(1, () => this.sendWithRetry(digest, blob));
        })
        .catch((err) => this.noteFailure(withContext(`upload chunk ${shortDigest(digest)}`, err)))
        .finally(() => {
          this.memory.release(held);
          this.pending.delete(job);
        });
    } catch (err) {
      this.memory.release(n);
      throw err;
    }
    this.pending.add(job);
  }

  /** Counts chunks appended from the previous snapshot (they are known to the session). */
  noteReused(bytes: number): void {
    this.stats.chunks++;
    this.stats.bytes += bytes;
    this.stats.reusedChunks++;
    this.stats.reusedBytes += bytes;
  }

  /** Waits until every upload so far is stored; throws the first failure. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    this.throwIfFailed();
  }

  /**
   * Keeps the failure that says why. When one upload fails in a way that ends the session (a
   * full datastore, say), the uploads still in flight are answered "session ... has ended", and
   * that answer may arrive first: it is kept only until the cause arrives.
   */
  private noteFailure(err: Error): void {
    if (!this.failure || (endedSession(this.failure) && !endedSession(err))) this.failure = err;
  }

  private async sendWithRetry(digest: string, blob: Uint8Array): Promise<void> {
    try {
      await this.send(digest, blob);
    } catch (err) {
      // An answer from the server is final; a dropped connection is worth one more try.
      if (err instanceof ApiRequestError || this.failure) throw err;
      await Bun.sleep(500);
      await this.send(digest, blob);
    }
    this.stats.uploadedBytes += blob.byteLength;
    // Stored and answered for: the encoded copy is ours alone and done with (util/release-buffer.ts).
    releaseBuffer(blob);
  }

  /** throwIfFailed, but a session-ended failure first waits for the uploads in flight: one of them may carry the cause. */
  private async failIfFailed(): Promise<void> {
    if (this.failure && endedSession(this.failure)) await Promise.allSettled([...this.pending]);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure instanceof IbsError ? this.failure : new IbsError(this.failure.message);
  }
}

/**
 * The server's answer to a request of a session that has ended: a consequence, never a cause.
 * 404 once the session is gone; 409 `session_closed` for a request that found it still there
 * but already ending (the server marks it ended before it answers the request that ended it).
 */
function endedSession(err: Error): boolean {
  const cause = (err as { cause?: unknown }).cause;
  if (!(cause instanceof ApiRequestError)) return false;
  return (cause.status === 404 && cause.code === "no_session") || (cause.status === 409 && cause.code === "session_closed");
}
