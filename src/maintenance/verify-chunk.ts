/**
 * Checks chunks for verify: present, header and CRC intact, and for unencrypted chunks
 * decodable to plaintext whose SHA-256 is the chunk's name (encrypted chunks: format and CRC
 * only, the server has no key). Each digest is checked once per job: recent results sit in an
 * LRU, older ones are found in the catalog (verified_at >= job start), and concurrent requests
 * for one digest share one read.
 *
 * Failures are told apart: NotFound is "missing"; a failed blob check is "corrupt" (the copy is
 * moved aside to `<digest>.<n>.bad`, so a later backup or sync can upload a good one); any other
 * error (timeout, 503, EIO) is retried and then reported as "transient", never as corruption.
 */
import { BlobError, decodeBlobAsync, inspectBlob } from "../datastore/blob.ts";
import { chunkKey, chunkName } from "../datastore/chunk-store.ts";
import type { Datastore } from "../datastore/datastore.ts";
import { shortDigest } from "../datastore/digest.ts";
import { errorMessage } from "../util/errors.ts";
import { LruMap } from "./bounded.ts";
import type { Reporter } from "./report.ts";

export type ChunkOutcome =
  | { kind: "ok"; /** null when the result came from the catalog (not known here) */ encrypted: boolean | null }
  | { kind: "missing"; detail: string }
  | { kind: "corrupt"; detail: string; movedTo: string | null }
  | { kind: "transient"; detail: string }
  /** Window mode: GC removed this unreferenced chunk while we looked at it. */
  | { kind: "collected" };

export interface BadChunkRecord {
  digest: string;
  problem: "missing" | "corrupt";
  detail: string;
  movedTo: string | null;
}

export interface ChunkStats {
  checked: number;
  bytes: number;
  alreadyVerified: number;
  transient: number;
}

const OK_BATCH = 256;

/** Errors that say something about the data; anything else is the storage failing to answer. */
export function isDataError(err: unknown): boolean {
  const name = (err as Error | undefined)?.name;
  return err instanceof BlobError || name === "CorruptError" || name === "NotFoundError" || name === "BlobError";
}

/** Runs `fn`, retrying storage failures after each delay; data errors are thrown at once. */
export async function withRetry<T>(fn: () => Promise<T>, delaysMs: readonly number[], onRetry: (err: unknown, attempt: number, delay: number) => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (isDataError(err) || attempt >= delaysMs.length) throw err;
      onRetry(err, attempt + 1, delaysMs[attempt]!);
      await Bun.sleep(delaysMs[attempt]!);
    }
  }
}

export class ChunkVerifier {
  readonly bad = new Map<string, BadChunkRecord>();
  readonly transientErrors: { digest: string; error: string }[] = [];
  readonly stats: ChunkStats = { checked: 0, bytes: 0, alreadyVerified: 0, transient: 0 };
  private readonly ok = new LruMap<boolean>(65536);
  private readonly inflight = new Map<string, Promise<ChunkOutcome>>();
  /** Digests whose reads failed after all retries: not retried again in this job. */
  private readonly unreadable = new Map<string, string>();
  private okBatch: string[] = [];

  constructor(
    private readonly ds: Datastore,
    private readonly jobStart: number,
    private readonly retryDelaysMs: readonly number[],
    private readonly log: Reporter,
  ) {}

  /** `collectedIsFine`: the chunk was picked from the catalog, not from a snapshot (window mode). */
  check(digest: string, collectedIsFine = false): Promise<ChunkOutcome> {
    const known = this.ok.get(digest);
    if (known !== undefined) {
      this.stats.alreadyVerified++;
      return Promise.resolve({ kind: "ok", encrypted: known });
    }
    const bad = this.bad.get(digest);
    if (bad) return Promise.resolve(bad.problem === "missing" ? { kind: "missing", detail: bad.detail } : { kind: "corrupt", detail: bad.detail, movedTo: bad.movedTo });
    const failed = this.unreadable.get(digest);
    if (failed) return Promise.resolve({ kind: "transient", detail: failed });
    const running = this.inflight.get(digest);
    if (running) return running;
    const info = this.ds.catalog.chunkVerifyInfo(digest);
    if (info?.state === 0 && info.verifyState === "ok" && (info.verifiedAt ?? 0) >= this.jobStart) {
      this.stats.alreadyVerified++;
      return Promise.resolve({ kind: "ok", encrypted: null });
    }
    const promise = this.load(digest, collectedIsFine).finally(() => this.inflight.delete(digest));
    this.inflight.set(digest, promise);
    return promise;
  }

  /** Records a chunk found missing elsewhere (no catalog row, no object). */
  recordMissing(digest: string, detail: string): void {
    if (!this.bad.has(digest)) this.bad.set(digest, { digest, problem: "missing", detail, movedTo: null });
  }

  /** Writes the pending "ok" verify states to the catalog. */
  flush(): void {
    if (this.okBatch.length === 0) return;
    this.ds.catalog.setChunkVerifyStates(this.okBatch, "ok");
    this.okBatch = [];
  }

  private async load(digest: string, collectedIsFine: boolean): Promise<ChunkOutcome> {
    const name = chunkName(digest);
    let raw: Uint8Array;
    try {
      raw = await withRetry(() => this.ds.chunks.backend.get(chunkKey(digest)), this.retryDelaysMs, (err, attempt, delay) =>
        this.log.warn(`${name}: read failed (attempt ${attempt} of ${this.retryDelaysMs.length + 1}), retrying in ${delay} ms: ${errorMessage(err)}`, { chunk: digest }),
      );
    } catch (err) {
      if ((err as Error).name !== "NotFoundError") {
        this.stats.transient++;
        const detail = `${name}: could not be read (${errorMessage(err)}); a storage problem, not a verdict on the data`;
        this.unreadable.set(digest, detail);
        if (this.transientErrors.length < 100) this.transientErrors.push({ digest, error: detail });
        this.log.warn(detail, { chunk: digest });
        return { kind: "transient", detail };
      }
      if (collectedIsFine && this.ds.catalog.chunkState(digest) !== 0) return { kind: "collected" };
      const detail = `${name} is missing`;
      await this.moveAside(digest); // drops the catalog row, so dedup stops offering the chunk
      this.recordMissing(digest, detail);
      this.log.error(detail, { chunk: digest });
      return { kind: "missing", detail };
    }
    this.stats.checked++;
    this.stats.bytes += raw.length;
    let encrypted: boolean;
    try {
      encrypted = inspectBlob(raw, name).encrypted;
      // Decompression on the thread pool: the reads in flight decode on both cores.
      if (!encrypted) await decodeBlobAsync(raw, { name, expectedDigest: digest, maxDecodedSize: this.ds.chunks.maxChunkSize });
    } catch (err) {
      const detail = errorMessage(err);
      const movedTo = await this.moveAside(digest);
      this.bad.set(digest, { digest, problem: "corrupt", detail, movedTo });
      this.log.error(`${detail}${movedTo ? `; moved aside to ${movedTo}` : ""}`, { chunk: digest });
      return { kind: "corrupt", detail, movedTo };
    }
    this.ok.set(digest, encrypted);
    this.okBatch.push(digest);
    if (this.okBatch.length >= OK_BATCH) this.flush();
    return { kind: "ok", encrypted };
  }

  private async moveAside(digest: string): Promise<string | null> {
    try {
      return await this.ds.markBadChunk(digest);
    } catch (err) {
      this.log.warn(`chunk ${shortDigest(digest)}: could not be moved aside: ${errorMessage(err)}`, { chunk: digest });
      return null;
    }
  }
}
