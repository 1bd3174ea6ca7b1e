/**
 * S3 backend: one object per key in a bucket, under an optional prefix (usually the datastore
 * name, so several datastores share a bucket): backend key `k` is object `<prefix>/k`.
 *
 * - Conditional create: `PUT If-None-Match: *` where the store honours it (detected once, see
 *   s3-conditional.ts), else HEAD-then-PUT under a per-key-stripe lock of this host.
 * - Retries (s3-retry.ts) on throttling, 5xx, timeouts and connection resets; an ambiguous
 *   conditional PUT (an attempt failed after the store may have applied it, the retry gets 412)
 *   is resolved by comparing the stored object's ETag (MD5) with ours.
 * - Limits (s3-limits.ts): requests in flight and bytes per second, per endpoint and process.
 * - Counters (s3-counters.ts) of every attempt by kind, persisted beside the catalog.
 * - Chunk cache (s3-cache.ts): recently written and read chunks on local disk; `get`, `stat`
 *   and `putIfAbsent` of a cached chunk send no request. `uncached()` is the same store without
 *   the cache, for verify, which must look at what the store really holds.
 * - Listing: ListObjectsV2, 1000 keys a page; only ever under the datastore's prefix.
 * - Delete: DeleteObjects, 1000 keys a request.
 *
 * The AWS SDK is loaded lazily by `openS3Backend` (src/s3/client.ts); importing this module
 * costs nothing.
 */
import type { Database } from "bun:sqlite";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { connectS3, type S3ClientOptions, type S3Connection } from "../../s3/client.ts";
import type { S3EndpointConfig } from "../../s3/endpoint-config.ts";
import { validateBucketName, validateBucketPrefix } from "../../s3/endpoint-config.ts";
import { type Backend, BackendIoError, InvalidKeyError, type ListEntry, MAX_KEY_LENGTH, NotFoundError, type ObjectStat, validateKey, validatePrefix } from "./backend.ts";
import { type CacheUsage, ChunkCache } from "./s3-cache.ts";
import { type ConditionalSupport, CreateLocks, detectConditionalCreate } from "./s3-conditional.ts";
import { type CounterSnapshot, type RequestKind, S3Counters } from "./s3-counters.ts";
import { describeS3Error, isNoSuchBucket, isNotFound, isNotImplemented, isPreconditionFailed, s3Code, s3Status } from "./s3-errors.ts";
import { type EndpointLimits, limitsFor } from "./s3-limits.ts";
import { openS3LocalDb } from "./s3-local-db.ts";
import { DEFAULT_RETRY_POLICY, type RetryPolicy, retryReason, withRetry } from "./s3-retry.ts";

/** S3's own page size limit for ListObjectsV2 and key limit for DeleteObjects. */
export const S3_PAGE_SIZE = 1000;
export const DEFAULT_S3_CACHE_SIZE = 1024 ** 3;

export interface S3BackendOptions extends Omit<S3ClientOptions, "bucket"> {
  /**
   * Local directory of the store (usually `<datastore>/.ibs/s3-cache`): chunk cache, request
   * counters, create locks. Without it: no cache, counters in memory only, locks in-process only.
   */
  cacheDir?: string;
  /** Chunk cache budget in bytes (default 1 GiB; 0 turns the cache off). */
  cacheSize?: number;
  retry?: Partial<RetryPolicy>;
}

interface Core {
  endpoint: S3EndpointConfig;
  conn: S3Connection;
  bucket: string;
  prefix: string;
  description: string;
  counters: S3Counters;
  limits: EndpointLimits;
  policy: RetryPolicy;
  createLocks: CreateLocks;
  support?: Promise<ConditionalSupport>;
  db: Database | null;
}

/** Opens a backend on `bucket` (under `prefix`, "" for the bucket root). Sends no request except a TLS handshake for a pinned endpoint. */
export async function openS3Backend(endpoint: S3EndpointConfig, bucket: string, prefix = "", opts: S3BackendOptions = {}): Promise<S3Backend> {
  validateBucketName(bucket);
  validateBucketPrefix(prefix);
  const conn = await connectS3(endpoint, { ...opts, bucket });
  const db = opts.cacheDir ? openS3LocalDb(opts.cacheDir) : null;
  const core: Core = {
    endpoint,
    conn,
    bucket,
    prefix,
    description: `s3 ${endpoint.name}:${bucket}${prefix ? `/${prefix}` : ""}`,
    counters: new S3Counters(db),
    limits: limitsFor(endpoint.name, endpoint.maxRequests, endpoint.rateLimit),
    policy: { ...DEFAULT_RETRY_POLICY, ...opts.retry },
    createLocks: new CreateLocks(opts.cacheDir ? join(opts.cacheDir, "locks") : null),
    db,
  };
  if (endpoint.conditionalCreate !== "auto") core.support = Promise.resolve(endpoint.conditionalCreate === "on" ? "honoured" : "ignored");
  const cacheSize = opts.cacheSize ?? DEFAULT_S3_CACHE_SIZE;
  const cache = db && opts.cacheDir && cacheSize > 0 ? new ChunkCache(db, opts.cacheDir, cacheSize) : null;
  return new S3Backend(core, cache);
}

export class S3Backend implements Backend {
  readonly description: string;

  constructor(
    private readonly core: Core,
    private readonly cache: ChunkCache | null,
    description = core.description,
  ) {
    this.description = description;
  }

  get bucket(): string {
    return this.core.bucket;
  }

  get prefix(): string {
    return this.core.prefix;
  }

  /** The same store without the chunk cache: every read goes to the store (verify). Shares the connection: close the original. */
  uncached(): S3Backend {
    return new S3Backend(this.core, null, `${this.core.description} (uncached)`);
  }

  /** Requests of this process since the backend was opened (persisted totals: readPersistedCounters). */
  counters(): CounterSnapshot {
    return this.core.counters.snapshot();
  }

  cacheUsage(): CacheUsage | null {
    return this.cache?.usage() ?? null;
  }

  /** Whether the store honours If-None-Match on PUT (detected on first use, then remembered). */
  conditionalCreate(): Promise<ConditionalSupport> {
    this.core.support ??= detectConditionalCreate(
      {
        createIfAbsent: (key, bytes) => this.conditionalPut(key, bytes),
        remove: (key) => this.delete([key]),
        isNotImplemented,
      },
      randomBytes(8).toString("hex"),
    ).catch((err) => {
      this.core.support = undefined; // try again next time
      throw this.ioError("detect conditional create on", ".ibs/", err);
    });
    return this.core.support;
  }

  async close(): Promise<void> {
    this.core.counters.close();
    this.core.db?.close();
    this.core.conn.close();
  }

  // ---- Backend ---------------------------------------------------------------------------

  async get(key: string): Promise<Uint8Array> {
    validateKey(key);
    const cached = this.cache?.read(key);
    if (cached) return cached;
    const { bytes, mtimeMs } = await this.fetch(key, undefined);
    this.cache?.insert(key, bytes, mtimeMs);
    return bytes;
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    validateKey(key);
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`${this.description}: range ${offset}+${length} of '${key}' is not a non-negative integer range`);
    }
    const cached = this.cache?.read(key);
    if (cached) return cached.subarray(offset, offset + length);
    if (length === 0) {
      if (!(await this.stat(key))) throw new NotFoundError(key, this.description);
      return new Uint8Array(0);
    }
    return (await this.fetch(key, `bytes=${offset}-${offset + length - 1}`)).bytes;
  }

  async putIfAbsent(key: string, bytes: Uint8Array): Promise<"created" | "exists"> {
    validateKey(key);
    if (this.cache?.lookup(key)) return "exists"; // the store confirmed it earlier (s3-cache.ts)
    const support = await this.conditionalCreate();
    const outcome = support === "honoured" ? await this.conditionalPut(key, bytes) : await this.core.createLocks.run(key, () => this.headThenPut(key, bytes));
    // Only our own bytes are cached: an existing encrypted chunk has other bytes (another IV, maybe another key id).
    if (outcome === "created") this.cache?.insert(key, bytes);
    return outcome;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    validateKey(key);
    await this.plainPut(key, bytes);
    this.cache?.insert(key, bytes);
  }

  async stat(key: string): Promise<ObjectStat | null> {
    validateKey(key);
    const cached = this.cache?.lookup(key);
    if (cached) return cached;
    return this.head(key);
  }

  async *list(prefix: string): AsyncIterable<ListEntry> {
    validatePrefix(prefix);
    const { sdk, client } = this.core.conn;
    const strip = this.core.prefix ? this.core.prefix.length + 1 : 0;
    let token: string | undefined;
    do {
      const page = await this.send("LIST", prefix || ".", 0, async () => {
        const out = await client.send(new sdk.ListObjectsV2Command({ Bucket: this.core.bucket, Prefix: this.objectKey(prefix), MaxKeys: S3_PAGE_SIZE, ContinuationToken: token }));
        return { value: out };
      }).catch((err) => {
        throw this.ioError("list", prefix || ".", err);
      });
      for (const o of page.Contents ?? []) {
        if (o.Key !== undefined) yield { key: o.Key.slice(strip), size: o.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) validateKey(key);
    if (keys.length === 0) return;
    // Dropped before (no reader trusts an entry for an object being deleted) and after (an
    // entry added meanwhile by a racing writer must not outlive the object).
    this.cache?.drop(keys);
    const { sdk, client } = this.core.conn;
    for (let i = 0; i < keys.length; i += S3_PAGE_SIZE) {
      const batch = keys.slice(i, i + S3_PAGE_SIZE);
      const out = await this.send("DELETE", batch[0]!, 0, async () => {
        const r = await client.send(new sdk.DeleteObjectsCommand({ Bucket: this.core.bucket, Delete: { Objects: batch.map((k) => ({ Key: this.objectKey(k) })), Quiet: true } }));
        return { value: r };
      }).catch((err) => {
        throw this.ioError(`delete ${batch.length} keys from`, batch[0]!, err);
      });
      const failed = (out.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
      if (failed.length > 0) {
        const first = failed[0]!;
        throw new BackendIoError(this.description, "delete", this.backendKey(first.Key ?? batch[0]!), new Error(`${failed.length} of ${batch.length} keys were not deleted: ${first.Code}${first.Message ? `: ${first.Message}` : ""}`));
      }
    }
    this.cache?.drop(keys);
  }

  // ---- requests --------------------------------------------------------------------------

  /**
   * One logical request with retries: each attempt waits for a request slot (and upload
   * bandwidth), is counted, and releases its slot before any backoff wait.
   */
  private send<T>(kind: RequestKind, key: string, bytesUp: number, run: (attempt: number) => Promise<{ value: T; bytesDown?: number }>): Promise<T> {
    const { limits, counters, policy } = this.core;
    return withRetry(async (attempt) => {
      if (bytesUp > 0 && limits.upload) await limits.upload.take(bytesUp);
      const release = await limits.requests.acquire();
      let result: { value: T; bytesDown?: number };
      try {
        result = await run(attempt);
      } catch (err) {
        const expected = isNotFound(err) || isPreconditionFailed(err) || s3Status(err) === 416;
        counters.record(kind, { ok: expected, throttled: retryReason(err) === "throttled", retry: attempt > 1, bytesUp });
        throw err;
      } finally {
        release();
      }
      counters.record(kind, { ok: true, retry: attempt > 1, bytesUp, bytesDown: result.bytesDown });
      if (result.bytesDown && limits.download) await limits.download.take(result.bytesDown);
      return result.value;
    }, policy);
  }

  private async fetch(key: string, range: string | undefined): Promise<{ bytes: Uint8Array; mtimeMs: number }> {
    const { objects } = this.core.conn;
    try {
      return await this.send("GET", key, 0, async () => {
        // Read inside the attempt: a connection reset mid-body is retried like any other.
        const out = await objects.get(this.objectKey(key), range);
        return { value: { bytes: out.bytes, mtimeMs: out.lastModifiedMs ?? Date.now() }, bytesDown: out.bytes.length };
      });
    } catch (err) {
      if (range && s3Status(err) === 416) return { bytes: new Uint8Array(0), mtimeMs: 0 }; // offset at or past the end
      if (isNotFound(err)) throw new NotFoundError(key, this.description);
      throw this.ioError("get", key, err);
    }
  }

  private async head(key: string): Promise<(ObjectStat & { etag?: string }) | null> {
    const { objects } = this.core.conn;
    try {
      return await this.send("HEAD", key, 0, async () => {
        const out = await objects.head(this.objectKey(key));
        return { value: { size: out.size, mtimeMs: out.lastModifiedMs ?? 0, etag: out.etag } };
      });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.ioError("stat", key, err);
    }
  }

  private async plainPut(key: string, bytes: Uint8Array): Promise<void> {
    const { objects } = this.core.conn;
    await this.send("PUT", key, bytes.length, async () => {
      await objects.put(this.objectKey(key), bytes);
      return { value: undefined };
    }).catch((err) => {
      throw this.ioError("put", key, err);
    });
  }

  /** PUT If-None-Match: *. A 412 after a failed attempt may be our own earlier attempt: compare content. */
  private async conditionalPut(key: string, bytes: Uint8Array): Promise<"created" | "exists"> {
    const { objects } = this.core.conn;
    const outcome = await this.send("PUT", key, bytes.length, async (attempt) => {
      try {
        await objects.put(this.objectKey(key), bytes, true);
        return { value: "created" as const };
      } catch (err) {
        // On a first attempt 412 means "someone else's"; after a failed attempt it may be our own.
        if (isPreconditionFailed(err)) return { value: attempt === 1 ? ("exists" as const) : ("ambiguous" as const) };
        throw err;
      }
    }).catch((err) => {
      if (isNotImplemented(err)) throw err; // detection handles it
      throw this.ioError("create", key, err);
    });
    if (outcome !== "ambiguous") return outcome;
    return (await this.holdsOurBytes(key, bytes)) ? "created" : "exists";
  }

  /** Whether the stored object is byte-for-byte `bytes` (a retried create whose earlier attempt the store applied). */
  private async holdsOurBytes(key: string, bytes: Uint8Array): Promise<boolean> {
    const st = await this.head(key);
    if (!st || st.size !== bytes.length) return false;
    const etag = st.etag?.replace(/"/g, "");
    if (etag && /^[0-9a-f]{32}$/.test(etag)) return etag === createHash("md5").update(bytes).digest("hex");
    // Not a plain MD5 ETag (SSE-KMS, some gateways): compare the bytes themselves.
    const stored = await this.fetch(key, undefined).catch(() => null);
    return stored !== null && Buffer.from(stored.bytes).equals(Buffer.from(bytes));
  }

  /** The fallback create: run under the key's create lock (s3-conditional.ts). */
  private async headThenPut(key: string, bytes: Uint8Array): Promise<"created" | "exists"> {
    if (await this.head(key)) return "exists";
    await this.plainPut(key, bytes);
    return "created";
  }

  private objectKey(key: string): string {
    const full = this.core.prefix ? `${this.core.prefix}/${key}` : key;
    if (Buffer.byteLength(full) > MAX_KEY_LENGTH) throw new InvalidKeyError(key.slice(0, 40) + "…", `longer than S3's ${MAX_KEY_LENGTH} bytes with the prefix '${this.core.prefix}'`);
    return full;
  }

  private backendKey(objectKey: string): string {
    return this.core.prefix && objectKey.startsWith(this.core.prefix + "/") ? objectKey.slice(this.core.prefix.length + 1) : objectKey;
  }

  private ioError(op: string, key: string, err: unknown): Error {
    if (err instanceof BackendIoError || err instanceof NotFoundError || err instanceof InvalidKeyError) return err;
    const attempts = (err as { attempts?: number })?.attempts ?? 1;
    let text = describeS3Error(err);
    if (isNoSuchBucket(err)) text = `bucket '${this.core.bucket}' does not exist (${s3Code(err)})`;
    if (attempts > 1) text += ` (after ${attempts} attempts)`;
    return new BackendIoError(this.description, op, key, Object.assign(new Error(text), { code: s3Code(err), status: s3Status(err) }));
  }
}
