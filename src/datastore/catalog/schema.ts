/**
 * Catalog schema (`<datastore>/.ibs/catalog.db`), one migration per entry; the index in the
 * array + 1 is the schema version kept in PRAGMA user_version. Append, never edit.
 *
 * Columns are either DERIVED (rebuilt by reindex from the datastore files, and compared by the
 * canonical dump) or RUNTIME (GC and verify bookkeeping that the files do not hold: chunk
 * first_seen/last_touched/mark_gen/verify_*; kept for chunks that still exist on reindex).
 *
 * Chunk row states: 0 stored, 1 write started, 2 condemned (GC is deleting the object; dedup and
 * commits treat it as absent). The GC protocol around them is in docs/formats.md §10.
 */
import type { Database } from "bun:sqlite";
import { DatastoreError } from "../errors.ts";

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;

  -- Every namespace except the root, as "a/b".
  CREATE TABLE namespaces (
    path  TEXT PRIMARY KEY,
    depth INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE groups (
    id        INTEGER PRIMARY KEY,
    ns        TEXT NOT NULL,            -- "" for the root namespace
    type      TEXT NOT NULL CHECK (type IN ('vm','ct','host')),
    backup_id TEXT NOT NULL,
    owner     TEXT,
    notes     TEXT,
    UNIQUE (ns, type, backup_id)
  );

  CREATE TABLE snapshots (
    id              INTEGER PRIMARY KEY,
    group_id        INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    time            INTEGER NOT NULL,   -- unix seconds of the backup time
    protected       INTEGER NOT NULL DEFAULT 0,
    verify_state    TEXT,               -- 'ok' | 'failed' | NULL (never verified)
    verify_upid     TEXT,
    verify_time     INTEGER,
    crypt_mode      TEXT NOT NULL,      -- none | encrypt | sign-only | mixed
    key_fingerprint TEXT,
    stored_bytes    INTEGER NOT NULL,   -- sum of the files' stored sizes
    logical_bytes   INTEGER NOT NULL,   -- index sizes (image/stream bytes) + blob sizes
    file_count      INTEGER NOT NULL,
    notes           TEXT,
    manifest_csum   TEXT NOT NULL,      -- SHA-256 of index.json.blob as stored
    UNIQUE (group_id, time)
  );
  CREATE INDEX snapshots_by_time ON snapshots(time);

  CREATE TABLE snapshot_files (
    snapshot_id  INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    filename     TEXT NOT NULL,
    size         INTEGER NOT NULL,
    csum         TEXT NOT NULL,
    crypt_mode   TEXT NOT NULL,
    logical_size INTEGER,               -- indexes only
    chunk_count  INTEGER,               -- indexes only
    PRIMARY KEY (snapshot_id, filename)
  ) WITHOUT ROWID;

  -- The dedup index. state 0 = stored; 1 = write started (a crash may have left it either way;
  -- recovery stats the object). Dedup lookups only trust state 0.
  CREATE TABLE chunks (
    digest       BLOB PRIMARY KEY,      -- 32 bytes
    stored_size  INTEGER NOT NULL,
    state        INTEGER NOT NULL DEFAULT 0,
    first_seen   INTEGER NOT NULL,      -- unix ms (RUNTIME)
    last_touched INTEGER NOT NULL,      -- unix ms of the last insert or dedup hit (RUNTIME)
    mark_gen     INTEGER NOT NULL DEFAULT 0,  -- GC generation that last marked it (RUNTIME)
    verify_state TEXT,                  -- RUNTIME
    verified_at  INTEGER                -- RUNTIME
  ) WITHOUT ROWID;
  CREATE INDEX chunks_pending ON chunks(state) WHERE state <> 0;

  -- Copies moved aside by verify: <digest>.<n>.bad
  CREATE TABLE bad_chunks (
    key    TEXT PRIMARY KEY,
    digest BLOB NOT NULL,
    size   INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- Operations in flight that change both files and catalog. A row is written before the
  -- backend is touched and deleted after the catalog matches it; recovery settles rows left
  -- by a process that died (under the operation's locks, so live operations are skipped).
  CREATE TABLE pending_ops (
    kind    TEXT NOT NULL CHECK (kind IN ('snapshot','group','namespace','chunk')),
    path    TEXT NOT NULL,              -- snapshot/group/namespace key, or chunk digest
    started INTEGER NOT NULL,           -- unix ms
    PRIMARY KEY (kind, path)
  ) WITHOUT ROWID;
  `,
  `
  -- Writer epochs (RUNTIME, docs/formats.md §10): a backup session or other chunk writer
  -- registers before its first dedup decision and deregisters after its commit or abort. GC
  -- spares every chunk touched since the oldest live writer started; rows of dead processes
  -- (pid + pstart no longer running) are ignored and removed by GC.
  CREATE TABLE writers (
    id      INTEGER PRIMARY KEY,
    pid     INTEGER NOT NULL,
    pstart  INTEGER NOT NULL,
    started INTEGER NOT NULL,           -- unix ms
    purpose TEXT NOT NULL
  );

  -- Rolling verify window: stored chunks, least recently verified (never = NULL) first.
  CREATE INDEX chunks_by_verified ON chunks(verified_at) WHERE state = 0;
  `,
  `
  -- The mark 'built_from_files' (Catalog.builtFromFiles): a catalog without it is rebuilt from
  -- the files when a service opens the store. One from before the mark that holds content was
  -- kept up to date as before, so it is marked here; an empty one (a lost catalog opened anew,
  -- which also runs every migration) is not, and gets rebuilt.
  INSERT OR IGNORE INTO meta (key, value)
    SELECT 'built_from_files', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
    WHERE EXISTS (SELECT 1 FROM chunks) OR EXISTS (SELECT 1 FROM snapshots) OR EXISTS (SELECT 1 FROM groups) OR EXISTS (SELECT 1 FROM namespaces);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Applies the migrations the database lacks; refuses a database from a newer build. */
export function migrate(db: Database, path: string): void {
  const version = () => (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  const check = (current: number) => {
    if (current > SCHEMA_VERSION) {
      throw new DatastoreError(`catalog ${path} has schema version ${current}, this ironcore-backup knows up to ${SCHEMA_VERSION}`, "upgrade ironcore-backup");
    }
  };
  check(version());
  if (version() === SCHEMA_VERSION) return;
  // IMMEDIATE takes the write lock first, so two processes opening a new catalog at once
  // apply each migration exactly once (the second re-reads the version inside).
  db.transaction(() => {
    const current = version();
    check(current);
    for (let v = current; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
