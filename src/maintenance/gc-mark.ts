/**
 * GC phase 1, mark: every chunk referenced by any index of any snapshot directory in the
 * backend listing gets `mark_gen = G` in the catalog. The referenced digests are collected in
 * a temporary table first (MarkSet) and applied in digest order: memory stays bounded (one
 * index and a fixed-size LRU of recently seen digests at a time) and each catalog page is
 * written once.
 *
 * Committed snapshots must be fully readable: if one of their indexes cannot be read, GC
 * cannot know what that snapshot needs and stops before it removes anything. Index files of
 * unfinished directories and index files a manifest does not list are marked best effort.
 * A snapshot forgotten while GC runs is skipped. Referenced chunks without a catalog row are
 * looked up on the backend: adopted when present, reported as missing otherwise.
 */
import { type ChunkIndex, parseChunkIndex } from "../datastore/chunk-index.ts";
import type { Datastore } from "../datastore/datastore.ts";
import { bytesToHex, shortDigest } from "../datastore/digest.ts";
import { DatastoreError } from "../datastore/errors.ts";
import { describeSnapshot, MANIFEST_FILENAME, parseContentKey } from "../datastore/snapshot-path.ts";
import { errorMessage } from "../util/errors.ts";
import { LruSet } from "./bounded.ts";
import { indexFiles, type SnapshotDir, walkSnapshots } from "./snapshot-walk.ts";

export interface MarkStats {
  snapshots: number;
  indexFiles: number;
  indexEntries: number;
  /** Logical bytes the marked indexes describe (image and stream sizes). */
  indexDataBytes: number;
  /** Referenced chunks found neither in the catalog nor on the backend. */
  missingChunks: number;
  /** Referenced chunks the catalog lacked but the backend had (rows added). */
  adoptedChunks: number;
  cache: { hits: number; misses: number };
  aborted: boolean;
}

export interface MarkContext {
  signal: AbortSignal;
  warn: (msg: string, fields?: Record<string, unknown>) => void;
  progress: (done: number, total: number) => void;
  cacheSize: number;
}

/** A committed snapshot whose references cannot be read: GC must not sweep. */
export class MarkError extends DatastoreError {}

/**
 * Digests inserted per sorted batch. Larger batches land closer together in the temporary
 * B-tree: 65 536 (a few MiB of pending rows) inserts twice as fast as 8 192 on 1M digests.
 */
const MARK_BATCH = 65536;

/** Snapshot directories whose files are read ahead of marking (bounded: one index each, mostly). */
const LOOKAHEAD_DIRS = 4;

/** Sorts after every 32-byte digest (longer than any, and 0xff all along). */
const ABOVE_ALL_DIGESTS = new Uint8Array(33).fill(0xff);

/**
 * The digests referenced in this run, spilled to temporary tables of the catalog connection
 * (on disk beyond the page cache, so memory stays bounded), with the first snapshot that
 * referenced each (for messages). Applying them to `chunks.mark_gen` afterwards in digest
 * order dirties each catalog page once, instead of once per index as marking row by row does.
 */
export class MarkSet {
  private readonly db;
  private readonly insert;
  // Pending digests in flat arrays, not one object per digest: the batch is large, and a
  // per-digest object plus its copy cost tens of MiB of short-lived heap.
  private readonly pendingDigests = new Uint8Array(MARK_BATCH * 32);
  private readonly pendingSnaps = new Uint32Array(MARK_BATCH);
  /** The first four bytes of each pending digest, big-endian: the sort key. */
  private readonly pendingPrefixes = new Uint32Array(MARK_BATCH);
  private pendingCount = 0;
  private snapKeys: { id: number; key: string }[] = [];
  private snapCount = 0;

  constructor(ds: Datastore) {
    this.db = ds.catalog.db;
    // Temporary tables live in a temp file (SQLite's default here); 64 MiB of cache keeps the
    // inserts fast while bounding memory.
    this.db.exec(`
      PRAGMA temp.cache_size = -65536;
      DROP TABLE IF EXISTS temp.gc_marks; DROP TABLE IF EXISTS temp.gc_snaps;
      CREATE TEMP TABLE gc_marks (digest BLOB PRIMARY KEY, snap INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TEMP TABLE gc_snaps (id INTEGER PRIMARY KEY, key TEXT NOT NULL);`);
    this.insert = this.db.query("INSERT OR IGNORE INTO temp.gc_marks (digest, snap) VALUES (?, ?)");
  }

  /** Registers a snapshot directory; returns its number for add(). */
  snapshot(key: string): number {
    this.snapKeys.push({ id: ++this.snapCount, key });
    return this.snapCount;
  }

  /** `digest` may be a view into an index: it is copied. */
  add(digest: Uint8Array, snap: number): void {
    const i = this.pendingCount++;
    this.pendingDigests.set(digest, i * 32);
    this.pendingSnaps[i] = snap;
    this.pendingPrefixes[i] = ((digest[0]! << 24) | (digest[1]! << 16) | (digest[2]! << 8) | digest[3]!) >>> 0;
    if (this.pendingCount >= MARK_BATCH) this.flush();
  }

  flush(): void {
    if (this.pendingCount === 0 && this.snapKeys.length === 0) return;
    const order = this.sortedPending(); // sorted: B-tree locality
    const snaps = this.snapKeys;
    const digests = this.pendingDigests;
    this.pendingCount = 0;
    this.snapKeys = [];
    const insertSnap = this.db.query("INSERT INTO temp.gc_snaps (id, key) VALUES (?, ?)");
    // A deferred transaction that writes only temp tables takes no lock on the catalog file.
    this.db.transaction(() => {
      for (const s of snaps) insertSnap.run(s.id, s.key);
      for (const i of order) this.insert.run(digests.subarray(i * 32, i * 32 + 32), this.pendingSnaps[i]!);
    })();
  }

  /** Indexes of the pending digests in byte order. */
  private sortedPending(): Uint32Array {
    const order = new Uint32Array(this.pendingCount);
    for (let i = 0; i < order.length; i++) order[i] = i;
    const prefixes = this.pendingPrefixes;
    const digests = this.pendingDigests;
    return order.sort((a, b) => {
      const pa = prefixes[a]!;
      const pb = prefixes[b]!;
      if (pa !== pb) return pa < pb ? -1 : 1;
      for (let k = 4; k < 32; k++) {
        const d = digests[a * 32 + k]! - digests[b * 32 + k]!;
        if (d !== 0) return d;
      }
      return 0;
    });
  }

  get size(): number {
    return (this.db.query("SELECT count(*) AS n FROM temp.gc_marks").get() as { n: number }).n;
  }

  /**
   * Sets mark_gen = generation for every collected digest, in 256 digest ranges (each a short
   * write transaction, so writers are never held up long). Returns the digests without a
   * catalog row, with the key of a snapshot that references each.
   */
  apply(generation: number, onRange: (done: number) => void): { digest: string; snapshot: string }[] {
    this.flush();
    // From here the temporary tables are only read in order: give their cache back before the
    // updates fill the catalog's own cache, so the two 64 MiB caches are never full at once.
    this.db.exec("PRAGMA temp.cache_size = -8192");
    const absent: { digest: string; snapshot: string }[] = [];
    const update = this.db.query(
      "UPDATE chunks SET mark_gen = ?1 WHERE digest IN (SELECT digest FROM temp.gc_marks WHERE digest >= ?2 AND digest < ?3)",
    );
    const count = this.db.query("SELECT count(*) AS n FROM temp.gc_marks WHERE digest >= ?1 AND digest < ?2");
    const missing = this.db.query(
      `SELECT m.digest, s.key FROM temp.gc_marks m JOIN temp.gc_snaps s ON s.id = m.snap
       WHERE m.digest >= ?1 AND m.digest < ?2 AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.digest = m.digest)`,
    );
    for (let r = 0; r < 256; r++) {
      const lo = new Uint8Array([r]);
      const hi = r < 255 ? new Uint8Array([r + 1]) : ABOVE_ALL_DIGESTS;
      const { changes } = update.run(generation, lo, hi);
      const { n } = count.get(lo, hi) as { n: number };
      if (changes < n) {
        for (const row of missing.all(lo, hi) as { digest: Uint8Array; key: string }[]) absent.push({ digest: bytesToHex(row.digest), snapshot: row.key });
      }
      onRange(r + 1);
    }
    return absent;
  }

  /** Referenced in this run (and, for the caller, not stored: a .bad copy must stay). */
  has(hex: string): boolean {
    return this.db.query("SELECT 1 FROM temp.gc_marks WHERE digest = ?").get(Buffer.from(hex, "hex")) !== null;
  }

  drop(): void {
    this.db.exec("DROP TABLE IF EXISTS temp.gc_marks; DROP TABLE IF EXISTS temp.gc_snaps;");
  }
}

export async function markReferencedChunks(ds: Datastore, generation: number, marks: MarkSet, ctx: MarkContext): Promise<MarkStats> {
  const stats: MarkStats = { snapshots: 0, indexFiles: 0, indexEntries: 0, indexDataBytes: 0, missingChunks: 0, adoptedChunks: 0, cache: { hits: 0, misses: 0 }, aborted: false };
  const cache = new LruSet(ctx.cacheSize);
  const expected = Math.max(1, (ds.catalog.db.query("SELECT count(*) AS n FROM snapshots").get() as { n: number }).n);

  const markIndex = (snap: number, index: ChunkIndex) => {
    stats.indexFiles++;
    stats.indexEntries += index.chunkCount;
    stats.indexDataBytes += index.size;
    for (let i = 0; i < index.chunkCount; i++) {
      const d = index.digestBytes(i);
      if (!cache.seen(Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("latin1"))) marks.add(d, snap);
    }
  };

  // The next few directories' manifests and indexes are read while this one is marked: the
  // reads are small and mostly waiting, the marking is this thread's work.
  const walk = walkSnapshots(ds.backend)[Symbol.asyncIterator]();
  const queue: Promise<LoadedDir | null>[] = [];
  let listed = false;
  const refill = async () => {
    while (!listed && queue.length < LOOKAHEAD_DIRS) {
      const next = await walk.next();
      if (next.done) listed = true;
      else {
        const loading = loadDir(ds, next.value, ctx);
        loading.catch(() => {}); // its error is thrown when its turn comes
        queue.push(loading);
      }
    }
  };
  try {
    for (;;) {
      await refill();
      const loading = queue.shift();
      if (!loading) break;
      if (ctx.signal.aborted) {
        stats.aborted = true;
        return stats;
      }
      const loaded = await loading;
      if (!loaded) continue; // forgotten meanwhile
      let snap = 0;
      if (loaded.committed) {
        stats.snapshots++;
        snap = marks.snapshot(loaded.dir.key);
      }
      for (const index of loaded.indexes) {
        if (!snap) snap = marks.snapshot(loaded.dir.key);
        markIndex(snap, index);
      }
      ctx.progress(stats.snapshots, Math.max(expected, stats.snapshots) * 2); // listing is the first half of the phase
    }
  } finally {
    await Promise.allSettled(queue);
    await walk.return?.(undefined);
  }
  stats.cache = { hits: cache.hits, misses: cache.misses };

  const total = Math.max(expected, stats.snapshots);
  for (const { digest, snapshot } of marks.apply(generation, (r) => ctx.progress(total + Math.round((r / 256) * total), total * 2))) {
    const st = await ds.chunks.stat(digest);
    if (st && ds.catalog.chunkStored(digest, st.size)) {
      ds.catalog.markChunks([digest], generation);
      stats.adoptedChunks++;
    } else {
      stats.missingChunks++;
      const ref = parseContentKey(`${snapshot}/x`);
      const name = ref?.kind === "snapshot-file" ? describeSnapshot(ref.snapshot) : snapshot;
      ctx.warn(`chunk ${shortDigest(digest)} referenced by snapshot ${name} is missing`, { chunk: digest, snapshot });
    }
  }
  return stats;
}

/** A snapshot directory's indexes, read ahead of marking. */
interface LoadedDir {
  dir: SnapshotDir;
  /** Has a readable manifest: a committed snapshot. */
  committed: boolean;
  /** The manifest's indexes (all required), then index files it does not list (best effort). */
  indexes: ChunkIndex[];
}

/** null: the snapshot was forgotten since it was listed. Throws MarkError for an unreadable committed snapshot. */
async function loadDir(ds: Datastore, dir: SnapshotDir, ctx: MarkContext): Promise<LoadedDir | null> {
  const listed = new Set<string>();
  const indexes: ChunkIndex[] = [];
  let committed = false;
  if (dir.complete) {
    const manifest = await readManifestOrSkip(ds, dir);
    if (!manifest) return null;
    committed = true;
    for (const f of manifest.files) {
      if (!f.filename.endsWith(".fidx") && !f.filename.endsWith(".didx")) continue;
      listed.add(f.filename);
      const index = await loadIndex(ds, dir, f.filename, true, ctx);
      if (index) indexes.push(index);
    }
  }
  for (const filename of indexFiles(dir)) {
    if (listed.has(filename)) continue;
    const index = await loadIndex(ds, dir, filename, false, ctx);
    if (index) indexes.push(index);
  }
  return { dir, committed, indexes };
}

async function readManifestOrSkip(ds: Datastore, dir: SnapshotDir) {
  try {
    return (await ds.snapshots.readManifest(dir.ref)).manifest;
  } catch (err) {
    if (!(await manifestExists(ds, dir))) return null;
    throw unreadable(dir, "its manifest", err);
  }
}

async function loadIndex(ds: Datastore, dir: SnapshotDir, filename: string, required: boolean, ctx: MarkContext): Promise<ChunkIndex | null> {
  const key = `${dir.key}/${filename}`;
  let bytes: Uint8Array;
  try {
    bytes = await ds.backend.get(key);
  } catch (err) {
    if ((err as Error).name !== "NotFoundError") throw err; // storage failure: the caller stops GC
    if (!required || !(await manifestExists(ds, dir))) return null; // forgotten, or a writer's leftover that went away
    throw unreadable(dir, `index '${filename}'`, new Error("listed in the manifest but missing"));
  }
  try {
    return parseChunkIndex(filename, bytes, key);
  } catch (err) {
    if (required) throw unreadable(dir, `index '${filename}'`, err);
    ctx.warn(`skipped unreadable index ${key} of an unfinished snapshot: ${errorMessage(err)}`, { snapshot: dir.key });
    return null;
  }
}

async function manifestExists(ds: Datastore, dir: SnapshotDir): Promise<boolean> {
  return (await ds.backend.stat(`${dir.key}/${MANIFEST_FILENAME}`)) !== null;
}

function unreadable(dir: SnapshotDir, what: string, err: unknown): MarkError {
  return new MarkError(
    `snapshot ${describeSnapshot(dir.ref)}: cannot read ${what} (${errorMessage(err)}); garbage collection removed nothing, because it cannot know which chunks that snapshot needs`,
    "verify the snapshot; forget it if it is damaged, then run garbage collection again",
  );
}
