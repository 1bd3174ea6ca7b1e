/**
 * The node state database: one SQLite file shared by every role on the host (WAL mode, so
 * readers never block the writer; a busy timeout, so roles in separate processes take turns).
 */
import { Database } from "bun:sqlite";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { IbsError } from "../util/errors.ts";
import { migrations } from "./migrations/index.ts";
import * as schema from "./schema/index.ts";

export type StateDb = BunSQLiteDatabase<typeof schema> & { $client: Database };

const BUSY_TIMEOUT_MS = 5000;

/**
 * For read-then-write transactions on the node state (`db.transaction(fn, IMMEDIATE)`): several
 * processes write it, and a deferred transaction that reads first and another writer commits
 * in between fails at once with "database is locked" (SQLite cannot wait there without a
 * deadlock). IMMEDIATE takes the write lock up front, so the busy timeout applies.
 */
export const IMMEDIATE = { behavior: "immediate" } as const;

export function openStateDb(path: string, opts: { readonly?: boolean } = {}): StateDb {
  let sqlite: Database;
  try {
    if (!opts.readonly) mkdirSync(dirname(path), { recursive: true });
    sqlite = new Database(path, opts.readonly ? { readonly: true } : { create: true, readwrite: true });
    sqlite.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (!opts.readonly) {
      // Switching a new database to WAL needs an exclusive lock and SQLite answers SQLITE_BUSY
      // at once, without its busy handler, when another role opens the file at the same moment
      // (first start of seven units): retry within the busy timeout.
      retryWhileBusy(() => sqlite.exec("PRAGMA journal_mode = WAL"));
      sqlite.exec("PRAGMA synchronous = NORMAL");
    }
    sqlite.exec("PRAGMA foreign_keys = ON");
  } catch (err) {
    throw stateDbError(path, err);
  }
  try {
    if (!opts.readonly) migrate(sqlite, path);
    else checkSchemaVersion(sqlite, path);
  } catch (err) {
    sqlite.close();
    throw err instanceof IbsError ? err : stateDbError(path, err);
  }
  return drizzle({ client: sqlite, schema }) as StateDb;
}

function retryWhileBusy(fn: () => void): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      return fn();
    } catch (err) {
      const busy = /locked|busy/i.test((err as Error)?.message ?? "") || (err as any)?.code === "SQLITE_BUSY";
      if (!busy || Date.now() >= deadline) throw err;
      Bun.sleepSync(10 + Math.random() * 40);
    }
  }
}

function schemaVersion(db: Database): number {
  return (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
}

function checkSchemaVersion(db: Database, path: string): number {
  const current = schemaVersion(db);
  if (current > migrations.length) {
    throw new IbsError(
      `state database ${path} has schema version ${current}, newer than this binary knows (${migrations.length})`,
      1,
      "it was written by a newer ironcore-backup: install that version again instead of downgrading",
    );
  }
  return current;
}

/** Applies the missing migrations, each in its own transaction with its version bump. */
function migrate(db: Database, path: string): void {
  const current = checkSchemaVersion(db, path);
  if (current === migrations.length) return;
  // IMMEDIATE takes the write lock up front so two roles starting together cannot both migrate.
  db.exec("BEGIN IMMEDIATE");
  try {
    for (let v = schemaVersion(db); v < migrations.length; v++) {
      db.exec(migrations[v].sql);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    }
    db.exec("COMMIT");
  } catch (err) {
    db.exec("ROLLBACK");
    throw new IbsError(`state database ${path}: migration failed: ${(err as Error).message}`);
  }
}

function stateDbError(path: string, err: unknown): IbsError {
  const msg = (err as Error)?.message ?? String(err);
  const code = (err as any)?.code ?? "";
  if (/locked|busy/i.test(msg) || code === "SQLITE_BUSY") {
    return new IbsError(`state database ${path} is locked by another process (waited ${BUSY_TIMEOUT_MS / 1000} s)`, 1,
      "find the process holding it (fuser -v " + path + ") or wait for it to finish");
  }
  if (/readonly|read-only|unable to open|permission|EACCES|not a directory|ENOTDIR/i.test(msg + code)) {
    return new IbsError(`state database ${path} cannot be opened for writing: ${msg}`, 1,
      "check that the state directory exists, is writable by this user and is not on a read-only filesystem");
  }
  return new IbsError(`state database ${path}: ${msg}`);
}
