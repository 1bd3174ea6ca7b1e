/**
 * The small SQLite file an S3 datastore keeps in its local cache directory
 * (`<cache dir>/s3-state.db`): the chunk cache's index (s3-cache.ts) and the request counters
 * (s3-counters.ts). Everything in it is disposable: deleting the cache directory loses cached
 * copies and counter history, never data. Several processes (the roles) share it; WAL and a
 * busy timeout let them take turns.
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export const LOCAL_DB_NAME = "s3-state.db";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cache_entries (
  key TEXT PRIMARY KEY,      -- backend key of the chunk
  size INTEGER NOT NULL,
  crc INTEGER NOT NULL,      -- CRC32 of the cached file: a damaged cache copy is dropped, never served
  mtime INTEGER NOT NULL,    -- unix ms: the object's modification time as far as we know
  used INTEGER NOT NULL      -- unix ms of the last read or write (LRU order)
);
CREATE INDEX IF NOT EXISTS cache_entries_used ON cache_entries (used);
CREATE TABLE IF NOT EXISTS counters (
  kind TEXT PRIMARY KEY,     -- PUT GET HEAD LIST DELETE
  requests INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  throttled INTEGER NOT NULL DEFAULT 0,
  retries INTEGER NOT NULL DEFAULT 0,
  bytes_up INTEGER NOT NULL DEFAULT 0,
  bytes_down INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

export function localDbPath(cacheDir: string): string {
  return join(cacheDir, LOCAL_DB_NAME);
}

export function openS3LocalDb(cacheDir: string, opts: { readonly?: boolean } = {}): Database {
  if (!opts.readonly) mkdirSync(cacheDir, { recursive: true, mode: 0o750 });
  const db = new Database(localDbPath(cacheDir), opts.readonly ? { readonly: true } : { create: true, readwrite: true });
  db.exec("PRAGMA busy_timeout = 10000");
  if (!opts.readonly) {
    db.exec("PRAGMA journal_mode = WAL");
    // A lost last transaction costs a cache entry or a few counts, nothing more.
    db.exec("PRAGMA synchronous = OFF");
    db.exec(SCHEMA);
  }
  return db;
}
