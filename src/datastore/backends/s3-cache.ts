/**
 * Local cache of chunk objects of an S3 datastore: recently written and read chunks, as files
 * under `<cache dir>/chunks/<4 hex>/<64 hex>`, bounded by bytes and evicted least recently used
 * first. The index (key, size, CRC32, mtime, last use) is a table in the shared local state
 * file, so every process on the host sees one cache and one byte budget.
 *
 * Only chunks are cached: their key is their content's digest, so a cached copy can never be
 * stale, only missing. Everything else (manifests, owner, notes) can be replaced and is always
 * read from the store.
 *
 * What a cache entry means, and why it is safe to answer from it: the entry is added only after
 * the store confirmed the object (PUT answered, GET read, conditional PUT said it exists), and
 * every delete through a backend sharing this cache directory drops the entry before and after
 * deleting the object. Given the single-writer-host rule for S3 datastores (docs/formats.md),
 * an entry therefore means "the object exists in the store", and `putIfAbsent`/`stat` of a
 * cached chunk cost no request. A copy whose CRC32 no longer matches (disk damage, a crash
 * mid-write) is dropped and fetched again; it is never served and never reported as corrupt
 * store data.
 */
import type { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const CHUNK_KEY = /^\.chunks\/([0-9a-f]{4})\/([0-9a-f]{64})$/;
/** Evicting goes down to this share of the budget, so that eviction runs in batches. */
const EVICT_TO = 0.9;
/** A temp file older than this was left by a process that died mid-write. */
const STALE_TEMP_MS = 3600_000;

export interface CacheUsage {
  entries: number;
  bytes: number;
  maxBytes: number;
}

export class ChunkCache {
  private readonly chunkDir: string;
  private readonly tmpDir: string;

  constructor(
    private readonly db: Database,
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    this.chunkDir = join(dir, "chunks");
    this.tmpDir = join(dir, "tmp");
    mkdirSync(this.tmpDir, { recursive: true });
    this.removeStaleTemps();
  }

  /** Only chunk objects (`.chunks/<4 hex>/<64 hex>`) are cached; `.bad` copies and metadata are not. */
  static cacheable(key: string): boolean {
    const m = CHUNK_KEY.exec(key);
    return m !== null && m[2]!.startsWith(m[1]!);
  }

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** Size and mtime of a cached chunk, or null. No file access: the entry alone is the claim. */
  lookup(key: string): { size: number; mtimeMs: number } | null {
    if (!this.enabled || !ChunkCache.cacheable(key)) return null;
    const row = this.db.query("SELECT size, mtime FROM cache_entries WHERE key = ?").get(key) as { size: number; mtime: number } | null;
    return row ? { size: row.size, mtimeMs: row.mtime } : null;
  }

  /** The cached bytes, checked against their CRC32; null on a miss or a damaged copy (which is dropped). */
  read(key: string): Uint8Array | null {
    if (!this.enabled || !ChunkCache.cacheable(key)) return null;
    const row = this.db.query("SELECT size, crc FROM cache_entries WHERE key = ?").get(key) as { size: number; crc: number } | null;
    if (!row) return null;
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(this.pathOf(key));
    } catch {
      this.drop([key]); // evicted under us, or the write never finished
      return null;
    }
    if (bytes.length !== row.size || Bun.hash.crc32(bytes) !== row.crc) {
      this.drop([key]);
      return null;
    }
    this.db.query("UPDATE cache_entries SET used = ? WHERE key = ?").run(Date.now(), key);
    return bytes;
  }

  /** Adds (or refreshes) a chunk the store has confirmed. Failures to cache are ignored: the cache is an optimisation. */
  insert(key: string, bytes: Uint8Array, mtimeMs = Date.now()): void {
    if (!this.enabled || !ChunkCache.cacheable(key) || bytes.length > this.maxBytes) return;
    const path = this.pathOf(key);
    try {
      // Entry first, file second: an entry whose file is missing is a miss; a file without an entry would leak space.
      this.db
        .query("INSERT INTO cache_entries (key, size, crc, mtime, used) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET size = excluded.size, crc = excluded.crc, mtime = excluded.mtime, used = excluded.used")
        .run(key, bytes.length, Bun.hash.crc32(bytes), Math.round(mtimeMs), Date.now());
      const temp = join(this.tmpDir, randomBytes(8).toString("hex"));
      writeFileSync(temp, bytes);
      mkdirSync(join(path, ".."), { recursive: true });
      renameSync(temp, path);
    } catch {
      this.drop([key]);
      return;
    }
    this.evictIfOver();
  }

  /** Forgets chunks (before and after they are deleted from the store). */
  drop(keys: readonly string[]): void {
    const cached = keys.filter((k) => ChunkCache.cacheable(k));
    if (cached.length === 0) return;
    const del = this.db.prepare("DELETE FROM cache_entries WHERE key = ?");
    this.db.transaction(() => {
      for (const k of cached) del.run(k);
    })();
    for (const k of cached) rmSync(this.pathOf(k), { force: true });
  }

  usage(): CacheUsage {
    const r = this.db.query("SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM cache_entries").get() as { n: number; bytes: number };
    return { entries: r.n, bytes: r.bytes, maxBytes: this.maxBytes };
  }

  private evictIfOver(): void {
    let { bytes } = this.usage();
    if (bytes <= this.maxBytes) return;
    const target = this.maxBytes * EVICT_TO;
    const victims: string[] = [];
    for (const row of this.db.query("SELECT key, size FROM cache_entries ORDER BY used ASC, key ASC").iterate() as IterableIterator<{ key: string; size: number }>) {
      if (bytes <= target) break;
      victims.push(row.key);
      bytes -= row.size;
    }
    this.drop(victims);
  }

  private pathOf(key: string): string {
    const m = CHUNK_KEY.exec(key)!;
    return join(this.chunkDir, m[1]!, m[2]!);
  }

  private removeStaleTemps(): void {
    const now = Date.now();
    for (const name of readdirSync(this.tmpDir)) {
      const p = join(this.tmpDir, name);
      try {
        if (now - statSync(p).mtimeMs > STALE_TEMP_MS) unlinkSync(p);
      } catch {
        // gone already
      }
    }
  }
}
