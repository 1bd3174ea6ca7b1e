/**
 * The datastore catalog: a bun:sqlite database beside the datastore (`.ibs/catalog.db`) that
 * answers listings, stats and dedup lookups fast. The datastore files are the truth; this is a
 * rebuildable cache of them (see reindex.ts) plus GC/verify bookkeeping. Schema: schema.ts.
 *
 * Write order keeps it safe after a crash: chunk rows become "stored" only after the object is
 * durable, and every operation that changes files and catalog together is bracketed by a
 * pending_ops row that recovery (recovery.ts) settles against the backend.
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { bytesToHex, digestToBytes } from "../digest.ts";
import type { Manifest } from "../manifest.ts";
import { type BackupType, formatBackupTime, formatNamespace, type GroupRef, type Namespace, parseBackupTime, parseNamespace, type SnapshotRef } from "../snapshot-path.ts";
import { processStartTime } from "../../util/proc.ts";
import { migrate } from "./schema.ts";

const BUILT_FROM_FILES_KEY = "built_from_files";

export interface IndexFileInfo {
  logicalSize: number;
  chunkCount: number;
}

export interface CatalogSnapshotInput {
  ref: SnapshotRef;
  manifest: Manifest;
  /** SHA-256 (hex) of the stored index.json.blob. */
  manifestCsum: string;
  protected: boolean;
  /** Logical size and chunk count of each index file, by file name. */
  indexes: ReadonlyMap<string, IndexFileInfo>;
}

export interface SnapshotRow {
  ns: Namespace;
  type: BackupType;
  id: string;
  time: string;
  protected: boolean;
  verifyState: "ok" | "failed" | null;
  cryptMode: string;
  storedBytes: number;
  logicalBytes: number;
  fileCount: number;
  notes: string | null;
}

export interface GroupRow {
  ns: Namespace;
  type: BackupType;
  id: string;
  owner: string | null;
  notes: string | null;
  snapshotCount: number;
  /** Newest snapshot time, or null when the group has none. */
  lastBackup: string | null;
}

export interface CatalogStats {
  namespaces: number;
  groups: number;
  snapshots: number;
  chunks: number;
  /** Bytes of all stored chunks. */
  chunkBytes: number;
  /** Bytes the snapshots describe (image and stream sizes), before dedup and compression. */
  logicalBytes: number;
  badChunks: number;
}

export interface WriterRow {
  id: number;
  pid: number;
  pstart: number;
  /** Unix ms when the writer registered. */
  started: number;
  purpose: string;
}

/** Position in the rolling verify order (Catalog.chunksDueForVerify). */
export interface VerifyCursor {
  verifiedAt: number | null;
  digest: Uint8Array;
}

export type PendingOpKind = "snapshot" | "group" | "namespace" | "chunk";

export interface PendingOp {
  kind: PendingOpKind;
  path: string;
  started: number;
}

export interface SnapshotFilter {
  ns?: Namespace;
  group?: GroupRef;
}

type SnapshotDbRow = {
  ns: string;
  type: BackupType;
  backup_id: string;
  time: number;
  protected: number;
  verify_state: "ok" | "failed" | null;
  crypt_mode: string;
  stored_bytes: number;
  logical_bytes: number;
  file_count: number;
  notes: string | null;
};

export class Catalog {
  readonly db: Database;

  private constructor(
    db: Database,
    readonly path: string,
  ) {
    this.db = db;
  }

  /** Opens (creating when absent) and migrates the catalog; ":memory:" for a scratch one. */
  static open(path: string): Catalog {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path, { create: true });
    db.exec("PRAGMA busy_timeout = 10000"); // roles in other processes share this file
    if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL"); // WAL + NORMAL: durable across process crashes, may lose the last commits on power loss (the files stay the truth)
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("PRAGMA cache_size = -65536"); // 64 MiB: the chunk index of a large store is random-access
    migrate(db, path);
    return new Catalog(db, path);
  }

  close(): void {
    this.db.close();
  }

  /** Runs `fn` in one write transaction (taken IMMEDIATE to avoid upgrade deadlocks). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  // ---- chunks -------------------------------------------------------------------------
  //
  // Row states: 0 stored, 1 write started, 2 condemned (GC decided to delete the object; it
  // deletes the row only after the object). Every "do we have it" answer that a writer may
  // rely on is an atomic claim (UPDATE ... WHERE state = 0 that also touches the row), so it
  // serialises with GC's conditional condemnation: either the claim came first and the touch
  // spares the chunk, or the condemnation came first and the answer is "no" (upload again).

  /** Drops a chunk row only if its write never completed. */
  dropPendingChunk(digest: string): void {
    this.db.query("DELETE FROM chunks WHERE digest = ? AND state = 1").run(digestToBytes(digest));
  }

  /**
   * Records that a chunk write starts: "new" (a state-1 row was added), "existing" (the row
   * was there and is now touched), or "condemned" (GC is deleting it: wait, then retry).
   */
  chunkWriteStarted(digest: string, now = Date.now()): "new" | "existing" | "condemned" {
    const d = digestToBytes(digest);
    return this.transaction(() => {
      const row = this.db.query("SELECT state FROM chunks WHERE digest = ?").get(d) as { state: number } | null;
      if (!row) {
        this.db.query("INSERT INTO chunks (digest, stored_size, state, first_seen, last_touched) VALUES (?, 0, 1, ?, ?)").run(d, now, now);
        return "new";
      }
      if (row.state === 2) return "condemned";
      this.db.query("UPDATE chunks SET last_touched = max(last_touched, ?) WHERE digest = ?").run(now, d);
      return "existing";
    });
  }

  /**
   * The chunk object is durable (created now, or found existing): mark it stored and touched.
   * Returns false, changing nothing, when GC has condemned the row meanwhile (the object may
   * be gone: the caller must store it again once GC is done with it).
   */
  chunkStored(digest: string, storedSize: number, now = Date.now()): boolean {
    // Also refused while the chunk is being moved aside as corrupt (a "chunk" pending op,
    // Datastore.markBadChunk): the object found is the bad one, about to disappear.
    const { changes } = this.db
      .query(
        `INSERT INTO chunks (digest, stored_size, state, first_seen, last_touched)
         SELECT ?1, ?2, 0, ?3, ?3 WHERE NOT EXISTS (SELECT 1 FROM pending_ops WHERE kind = 'chunk' AND path = ?4)
         ON CONFLICT(digest) DO UPDATE SET stored_size = ?2, state = 0, last_touched = max(last_touched, ?3) WHERE state <> 2`,
      )
      .run(digestToBytes(digest), storedSize, now, digest);
    return changes > 0;
  }

  /** Whether the chunk is being moved aside as corrupt right now (or a process died doing it). */
  chunkOpPending(digest: string): boolean {
    return this.db.query("SELECT 1 FROM pending_ops WHERE kind = 'chunk' AND path = ?").get(digest) !== null;
  }

  /**
   * Dedup claims: for each digest, true when the chunk is stored, in which case it is touched
   * in the same statement (GC cannot condemn it afterwards while the claimer's epoch lives).
   */
  claimChunks(digests: readonly string[], now = Date.now()): boolean[] {
    const stmt = this.db.query("UPDATE chunks SET last_touched = max(last_touched, ?) WHERE digest = ? AND state = 0");
    return this.transaction(() => digests.map((d) => stmt.run(now, digestToBytes(d)).changes > 0));
  }

  /** Touches stored chunks (a claim whose answer is not needed). */
  touchChunks(digests: Iterable<string>, now = Date.now()): void {
    this.claimChunks([...digests], now);
  }

  /** 0 stored, 1 write started, 2 condemned, null when the catalog has no row. */
  chunkState(digest: string): 0 | 1 | 2 | null {
    const row = this.db.query("SELECT state FROM chunks WHERE digest = ?").get(digestToBytes(digest)) as { state: 0 | 1 | 2 } | null;
    return row ? row.state : null;
  }

  /** Verify bookkeeping (RUNTIME): lets verify skip chunks checked recently. */
  setChunkVerifyState(digest: string, state: "ok" | "corrupt", at = Date.now()): void {
    this.db.query("UPDATE chunks SET verify_state = ?, verified_at = ? WHERE digest = ?").run(state, at, digestToBytes(digest));
  }

  hasChunk(digest: string): boolean {
    return this.db.query("SELECT 1 FROM chunks WHERE digest = ? AND state = 0").get(digestToBytes(digest)) !== null;
  }

  removeChunks(digests: Iterable<string>): void {
    const stmt = this.db.query("DELETE FROM chunks WHERE digest = ?");
    this.transaction(() => {
      for (const d of digests) stmt.run(digestToBytes(d));
    });
  }

  // ---- condemned chunks (GC sweep) ----------------------------------------------------

  /**
   * Condemns the chunks that are still stored, unmarked in `generation` and untouched since
   * `cutoff` (unix ms), atomically per row. Returns those condemned with their stored sizes.
   */
  condemnChunks(digests: readonly Uint8Array[], generation: number, cutoff: number): { digest: Uint8Array; size: number }[] {
    const stmt = this.db.query(
      "UPDATE chunks SET state = 2 WHERE digest = ? AND state = 0 AND mark_gen < ? AND last_touched < ? RETURNING stored_size",
    );
    return this.transaction(() => {
      const out: { digest: Uint8Array; size: number }[] = [];
      for (const d of digests) {
        const row = stmt.get(d, generation, cutoff) as { stored_size: number } | null;
        if (row) out.push({ digest: d, size: row.stored_size });
      }
      return out;
    });
  }

  /** The objects of these condemned chunks are deleted: drop their rows. */
  forgetCondemned(digests: readonly Uint8Array[]): void {
    const stmt = this.db.query("DELETE FROM chunks WHERE digest = ? AND state = 2");
    this.transaction(() => {
      for (const d of digests) stmt.run(d);
    });
  }

  /** Condemned rows (a GC that died mid-sweep leaves them). */
  condemnedChunks(): string[] {
    return (this.db.query("SELECT digest FROM chunks WHERE state <> 0 AND state = 2").all() as { digest: Uint8Array }[]).map((r) => bytesToHex(r.digest));
  }

  /** Settles a condemned row once no GC is running: stored again when the object survived, else dropped. */
  settleCondemned(digest: string, objectExists: boolean): void {
    const d = digestToBytes(digest);
    if (objectExists) this.db.query("UPDATE chunks SET state = 0 WHERE digest = ? AND state = 2").run(d);
    else this.db.query("DELETE FROM chunks WHERE digest = ? AND state = 2").run(d);
  }

  // ---- writer epochs (GC) -------------------------------------------------------------

  /** Registers a chunk writer (backup session, sync) of this process; returns its id. */
  registerWriter(purpose: string, now = Date.now()): number {
    const row = this.db
      .query("INSERT INTO writers (pid, pstart, started, purpose) VALUES (?, ?, ?, ?) RETURNING id")
      .get(process.pid, processStartTime(), now, purpose) as { id: number };
    return row.id;
  }

  unregisterWriter(id: number): void {
    this.db.query("DELETE FROM writers WHERE id = ?").run(id);
  }

  /** Registered writers, oldest first; the caller decides liveness (pid + pstart). */
  writers(): WriterRow[] {
    return this.db.query("SELECT id, pid, pstart, started, purpose FROM writers ORDER BY started, id").all() as WriterRow[];
  }

  /** Chunk writes that started and were not confirmed (state 1). "state <> 0" lets SQLite use the partial index. */
  pendingChunks(): { digest: string; since: number }[] {
    return (this.db.query("SELECT digest, first_seen FROM chunks WHERE state <> 0 AND state = 1").all() as { digest: Uint8Array; first_seen: number }[]).map((r) => ({
      digest: bytesToHex(r.digest),
      since: r.first_seen,
    }));
  }

  addBadChunk(key: string, digest: string, size: number): void {
    this.db.query("INSERT OR REPLACE INTO bad_chunks (key, digest, size) VALUES (?, ?, ?)").run(key, digestToBytes(digest), size);
  }

  /** Replaces the recorded bad copies of one digest. */
  setBadChunks(digest: string, copies: readonly { key: string; size: number }[]): void {
    this.transaction(() => {
      this.db.query("DELETE FROM bad_chunks WHERE digest = ?").run(digestToBytes(digest));
      for (const c of copies) this.addBadChunk(c.key, digest, c.size);
    });
  }

  // ---- GC hooks -----------------------------------------------------------------------

  /** The current GC mark generation (0 before the first GC). */
  gcGeneration(): number {
    const row = this.db.query("SELECT value FROM meta WHERE key = 'gc_generation'").get() as { value: string } | null;
    return row ? Number(row.value) : 0;
  }

  /** Starts a new mark generation and returns it. */
  nextGcGeneration(): number {
    return this.transaction(() => {
      const next = this.gcGeneration() + 1;
      this.db.query("INSERT OR REPLACE INTO meta (key, value) VALUES ('gc_generation', ?)").run(String(next));
      return next;
    });
  }

  markChunks(digests: Iterable<string>, generation: number): void {
    const stmt = this.db.query("UPDATE chunks SET mark_gen = ? WHERE digest = ?");
    this.transaction(() => {
      for (const d of digests) stmt.run(generation, digestToBytes(d));
    });
  }

  /** Marks raw 32-byte digests with `generation` in one transaction; returns those without a catalog row. */
  markChunkDigests(digests: readonly Uint8Array[], generation: number): Uint8Array[] {
    const stmt = this.db.query("UPDATE chunks SET mark_gen = ? WHERE digest = ?");
    return this.transaction(() => digests.filter((d) => stmt.run(generation, d).changes === 0));
  }

  /** Up to `limit` sweep candidates after `cursor` in digest order: stored, unmarked in `generation`, untouched since `cutoff`. */
  gcCandidates(cursor: Uint8Array, generation: number, cutoff: number, limit: number): Uint8Array[] {
    return (
      this.db
        .query("SELECT digest FROM chunks WHERE digest > ? AND state = 0 AND mark_gen < ? AND last_touched < ? ORDER BY digest LIMIT ?")
        .all(cursor, generation, cutoff, limit) as { digest: Uint8Array }[]
    ).map((r) => r.digest);
  }

  /** Stored chunks marked in `generation` (in use) and not (pending: unreferenced but too recent to remove). */
  gcFigures(generation: number): { inUse: { chunks: number; bytes: number }; pending: { chunks: number; bytes: number } } {
    const rows = this.db
      .query("SELECT mark_gen = ?1 AS used, count(*) AS n, coalesce(sum(stored_size), 0) AS bytes FROM chunks WHERE state = 0 GROUP BY mark_gen = ?1")
      .all(generation) as { used: number; n: number; bytes: number }[];
    const pick = (used: number) => {
      const r = rows.find((x) => x.used === used);
      return { chunks: r?.n ?? 0, bytes: r?.bytes ?? 0 };
    };
    return { inUse: pick(1), pending: pick(0) };
  }

  badChunkRows(): { key: string; digest: string; size: number }[] {
    return (this.db.query("SELECT key, digest, size FROM bad_chunks ORDER BY key").all() as { key: string; digest: Uint8Array; size: number }[]).map((r) => ({
      key: r.key,
      digest: bytesToHex(r.digest),
      size: r.size,
    }));
  }

  removeBadChunks(keys: readonly string[]): void {
    const stmt = this.db.query("DELETE FROM bad_chunks WHERE key = ?");
    this.transaction(() => {
      for (const k of keys) stmt.run(k);
    });
  }

  // ---- verify hooks -------------------------------------------------------------------

  /** Records one verify result for many chunks (RUNTIME columns), in one transaction. */
  setChunkVerifyStates(digests: readonly string[], state: "ok" | "corrupt", at = Date.now()): void {
    const stmt = this.db.query("UPDATE chunks SET verify_state = ?, verified_at = ? WHERE digest = ?");
    this.transaction(() => {
      for (const d of digests) stmt.run(state, at, digestToBytes(d));
    });
  }

  /** State and last verification of one chunk, or null without a row. */
  chunkVerifyInfo(digest: string): { state: 0 | 1 | 2; verifyState: "ok" | "corrupt" | null; verifiedAt: number | null } | null {
    const row = this.db.query("SELECT state, verify_state, verified_at FROM chunks WHERE digest = ?").get(digestToBytes(digest)) as {
      state: 0 | 1 | 2;
      verify_state: "ok" | "corrupt" | null;
      verified_at: number | null;
    } | null;
    return row ? { state: row.state, verifyState: row.verify_state, verifiedAt: row.verified_at } : null;
  }

  storedChunkCount(): number {
    return (this.db.query("SELECT count(*) AS n FROM chunks WHERE state = 0").get() as { n: number }).n;
  }

  /**
   * The next stored chunks to verify, least recently verified first (never verified first),
   * after `cursor` and verified before `before` (unix ms). Keyset paging over (verified_at, digest).
   */
  chunksDueForVerify(cursor: VerifyCursor | null, before: number, limit: number): { digest: string; size: number; verifiedAt: number | null }[] {
    type Row = { digest: Uint8Array; stored_size: number; verified_at: number | null };
    let rows: Row[] = [];
    const c = cursor ?? { verifiedAt: null, digest: new Uint8Array(0) };
    if (c.verifiedAt === null) {
      rows = this.db
        .query("SELECT digest, stored_size, verified_at FROM chunks WHERE state = 0 AND verified_at IS NULL AND digest > ? ORDER BY digest LIMIT ?")
        .all(c.digest, limit) as Row[];
    }
    if (rows.length < limit) {
      const after = c.verifiedAt === null ? { at: -1, digest: new Uint8Array(0) } : { at: c.verifiedAt, digest: c.digest };
      rows = rows.concat(
        this.db
          .query(
            `SELECT digest, stored_size, verified_at FROM chunks
             WHERE state = 0 AND verified_at IS NOT NULL AND verified_at < ? AND (verified_at, digest) > (?, ?)
             ORDER BY verified_at, digest LIMIT ?`,
          )
          .all(before, after.at, after.digest, limit - rows.length) as Row[],
      );
    }
    return rows.map((r) => ({ digest: bytesToHex(r.digest), size: r.stored_size, verifiedAt: r.verified_at }));
  }

  /** Stored chunks last verified before `before` (or never). */
  chunksVerifiedBefore(before: number): number {
    return (this.db.query("SELECT count(*) AS n FROM chunks WHERE state = 0 AND (verified_at IS NULL OR verified_at < ?)").get(before) as { n: number }).n;
  }

  /**
   * When the catalog was last built from the datastore's files: by reindex, or at the creation
   * of an empty store. A catalog without it does not describe the files (it was lost and opened
   * anew, or comes from a version without the mark) and must be rebuilt before it is trusted
   * to list snapshots (Datastore.open's rebuildLostCatalog).
   */
  builtFromFiles(): string | null {
    return this.getMeta(BUILT_FROM_FILES_KEY);
  }

  markBuiltFromFiles(at = new Date()): void {
    this.setMeta(BUILT_FROM_FILES_KEY, at.toISOString());
  }

  getMeta(key: string): string | null {
    return (this.db.query("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | null)?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.db.query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(key, value);
  }

  // ---- namespaces and groups ----------------------------------------------------------

  addNamespace(ns: Namespace): void {
    const stmt = this.db.query("INSERT OR IGNORE INTO namespaces (path, depth) VALUES (?, ?)");
    for (let depth = 1; depth <= ns.length; depth++) stmt.run(formatNamespace(ns.slice(0, depth)), depth);
  }

  removeNamespace(ns: Namespace): void {
    this.db.query("DELETE FROM namespaces WHERE path = ?").run(formatNamespace(ns));
  }

  listNamespaces(): Namespace[] {
    return (this.db.query("SELECT path FROM namespaces ORDER BY path").all() as { path: string }[]).map((r) => parseNamespace(r.path));
  }

  /** Creates the group row when missing; returns its id. */
  ensureGroup(group: GroupRef): number {
    const ns = formatNamespace(group.ns);
    if (group.ns.length) this.addNamespace(group.ns);
    const row = this.db
      .query("INSERT INTO groups (ns, type, backup_id) VALUES (?1, ?2, ?3) ON CONFLICT(ns, type, backup_id) DO UPDATE SET ns = ?1 RETURNING id")
      .get(ns, group.type, group.id) as { id: number };
    return row.id;
  }

  setGroupOwner(group: GroupRef, owner: string | null): void {
    const id = this.ensureGroup(group);
    this.db.query("UPDATE groups SET owner = ? WHERE id = ?").run(owner, id);
  }

  setGroupNotes(group: GroupRef, notes: string | null): void {
    const id = this.ensureGroup(group);
    this.db.query("UPDATE groups SET notes = ? WHERE id = ?").run(notes, id);
  }

  removeGroup(group: GroupRef): void {
    this.db.query("DELETE FROM groups WHERE ns = ? AND type = ? AND backup_id = ?").run(formatNamespace(group.ns), group.type, group.id);
  }

  listGroups(ns?: Namespace): GroupRow[] {
    const where = ns ? "WHERE g.ns = ?" : "";
    const rows = this.db
      .query(
        `SELECT g.ns, g.type, g.backup_id, g.owner, g.notes, count(s.id) AS n, max(s.time) AS last
         FROM groups g LEFT JOIN snapshots s ON s.group_id = g.id ${where}
         GROUP BY g.id ORDER BY g.ns, g.type, g.backup_id`,
      )
      .all(...(ns ? [formatNamespace(ns)] : [])) as {
      ns: string;
      type: BackupType;
      backup_id: string;
      owner: string | null;
      notes: string | null;
      n: number;
      last: number | null;
    }[];
    return rows.map((r) => ({
      ns: parseNamespace(r.ns),
      type: r.type,
      id: r.backup_id,
      owner: r.owner,
      notes: r.notes,
      snapshotCount: r.n,
      lastBackup: r.last === null ? null : formatBackupTime(r.last),
    }));
  }

  // ---- snapshots ----------------------------------------------------------------------

  /** Inserts or replaces a committed snapshot from its manifest. */
  putSnapshot(input: CatalogSnapshotInput): void {
    const { ref, manifest } = input;
    this.transaction(() => {
      const groupId = this.ensureGroup(ref);
      const time = parseBackupTime(ref.time);
      this.db.query("DELETE FROM snapshots WHERE group_id = ? AND time = ?").run(groupId, time);
      const modes = new Set(manifest.files.map((f) => f.crypt_mode));
      const cryptMode = modes.size === 0 ? "none" : modes.size === 1 ? [...modes][0]! : "mixed";
      let stored = 0;
      let logical = 0;
      for (const f of manifest.files) {
        stored += f.size;
        logical += input.indexes.get(f.filename)?.logicalSize ?? f.size;
      }
      const verify = manifest.unprotected.verify_state;
      const { id } = this.db
        .query(
          `INSERT INTO snapshots (group_id, time, protected, verify_state, verify_upid, verify_time, crypt_mode, key_fingerprint,
             stored_bytes, logical_bytes, file_count, notes, manifest_csum)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        )
        .get(
          groupId,
          time,
          input.protected ? 1 : 0,
          verify?.state ?? null,
          verify?.upid ?? null,
          verify?.time ?? null,
          cryptMode,
          manifest.key_fingerprint ?? null,
          stored,
          logical,
          manifest.files.length,
          manifest.unprotected.notes ?? null,
          input.manifestCsum,
        ) as { id: number };
      const file = this.db.query(
        "INSERT INTO snapshot_files (snapshot_id, filename, size, csum, crypt_mode, logical_size, chunk_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
      );
      for (const f of manifest.files) {
        const idx = input.indexes.get(f.filename);
        file.run(id, f.filename, f.size, f.csum, f.crypt_mode, idx?.logicalSize ?? null, idx?.chunkCount ?? null);
      }
    });
  }

  removeSnapshot(ref: SnapshotRef): void {
    this.db
      .query("DELETE FROM snapshots WHERE time = ? AND group_id = (SELECT id FROM groups WHERE ns = ? AND type = ? AND backup_id = ?)")
      .run(parseBackupTime(ref.time), formatNamespace(ref.ns), ref.type, ref.id);
  }

  /** After the manifest's unprotected part changed (notes, verify state). */
  updateUnprotected(ref: SnapshotRef, manifest: Manifest, manifestCsum: string): void {
    const v = manifest.unprotected.verify_state;
    this.updateSnapshot(
      ref,
      "notes = ?, verify_state = ?, verify_upid = ?, verify_time = ?, manifest_csum = ?",
      manifest.unprotected.notes ?? null,
      v?.state ?? null,
      v?.upid ?? null,
      v?.time ?? null,
      manifestCsum,
    );
  }

  setSnapshotProtected(ref: SnapshotRef, value: boolean): void {
    this.updateSnapshot(ref, "protected = ?", value ? 1 : 0);
  }

  hasSnapshot(ref: SnapshotRef): boolean {
    return (
      this.db
        .query("SELECT 1 FROM snapshots s JOIN groups g ON g.id = s.group_id WHERE g.ns = ? AND g.type = ? AND g.backup_id = ? AND s.time = ?")
        .get(formatNamespace(ref.ns), ref.type, ref.id, parseBackupTime(ref.time)) !== null
    );
  }

  /** Committed snapshots, ordered by namespace, group and time. */
  listSnapshots(filter: SnapshotFilter = {}): SnapshotRow[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const ns = filter.group?.ns ?? filter.ns;
    if (ns) {
      where.push("g.ns = ?");
      params.push(formatNamespace(ns));
    }
    if (filter.group) {
      where.push("g.type = ? AND g.backup_id = ?");
      params.push(filter.group.type, filter.group.id);
    }
    const rows = this.db
      .query(
        `SELECT g.ns, g.type, g.backup_id, s.time, s.protected, s.verify_state, s.crypt_mode, s.stored_bytes, s.logical_bytes, s.file_count, s.notes
         FROM snapshots s JOIN groups g ON g.id = s.group_id
         ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY g.ns, g.type, g.backup_id, s.time`,
      )
      .all(...params) as SnapshotDbRow[];
    const nsCache = new Map<string, Namespace>();
    return rows.map((r) => {
      let parsedNs = nsCache.get(r.ns);
      if (!parsedNs) nsCache.set(r.ns, (parsedNs = r.ns === "" ? [] : r.ns.split("/")));
      return {
        ns: parsedNs,
        type: r.type,
        id: r.backup_id,
        time: formatBackupTime(r.time),
        protected: r.protected === 1,
        verifyState: r.verify_state,
        cryptMode: r.crypt_mode,
        storedBytes: r.stored_bytes,
        logicalBytes: r.logical_bytes,
        fileCount: r.file_count,
        notes: r.notes,
      };
    });
  }

  // ---- operations in flight (crash recovery) -----------------------------------------

  beginOp(kind: PendingOpKind, path: string): void {
    this.db.query("INSERT OR REPLACE INTO pending_ops (kind, path, started) VALUES (?, ?, ?)").run(kind, path, Date.now());
  }

  endOp(kind: PendingOpKind, path: string): void {
    this.db.query("DELETE FROM pending_ops WHERE kind = ? AND path = ?").run(kind, path);
  }

  pendingOps(): PendingOp[] {
    return this.db.query("SELECT kind, path, started FROM pending_ops ORDER BY kind, path").all() as PendingOp[];
  }

  // ---- stats --------------------------------------------------------------------------

  stats(): CatalogStats {
    const q = <T>(sql: string) => this.db.query(sql).get() as T;
    const chunks = q<{ n: number; bytes: number | null }>("SELECT count(*) AS n, sum(stored_size) AS bytes FROM chunks WHERE state = 0");
    const snaps = q<{ n: number; logical: number | null }>("SELECT count(*) AS n, sum(logical_bytes) AS logical FROM snapshots");
    return {
      namespaces: q<{ n: number }>("SELECT count(*) AS n FROM namespaces").n,
      groups: q<{ n: number }>("SELECT count(*) AS n FROM groups").n,
      snapshots: snaps.n,
      chunks: chunks.n,
      chunkBytes: chunks.bytes ?? 0,
      logicalBytes: snaps.logical ?? 0,
      badChunks: q<{ n: number }>("SELECT count(*) AS n FROM bad_chunks").n,
    };
  }

  private updateSnapshot(ref: SnapshotRef, set: string, ...values: (string | number | null)[]): void {
    this.db
      .query(`UPDATE snapshots SET ${set} WHERE time = ? AND group_id = (SELECT id FROM groups WHERE ns = ? AND type = ? AND backup_id = ?)`)
      .run(...values, parseBackupTime(ref.time), formatNamespace(ref.ns), ref.type, ref.id);
  }
}
