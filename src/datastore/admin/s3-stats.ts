/**
 * The S3 part of `datastore stats`: requests by kind (PUT, GET, HEAD, LIST, DELETE: each
 * attempt, as the provider bills them) with failures, throttling, retries and bytes, as every
 * process on this host has persisted them into the cache dir; and the chunk cache's use. Read
 * from the local state file only: stats send no request to the store.
 */
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { type CounterSnapshot, emptyCounters, readPersistedCounters, totalRequests } from "../backends/s3-counters.ts";
import { localDbPath } from "../backends/s3-local-db.ts";
import type { RegisteredDatastore } from "./registry.ts";
import { requireS3, s3CacheDir } from "./s3-backend.ts";

export interface S3StoreStats {
  endpoint: string;
  bucket: string;
  prefix: string;
  /** Since when the counters count (first flush in this cache dir), null before any request. */
  countersSince: string | null;
  requests: CounterSnapshot;
  totalRequests: number;
  cache: { dir: string; entries: number; bytes: number; maxBytes: number };
}

export function s3StoreStats(entry: RegisteredDatastore): S3StoreStats {
  const s3 = requireS3(entry);
  const dir = s3CacheDir(entry.path);
  const persisted = readPersistedCounters(dir);
  const requests = persisted?.counters ?? emptyCounters();
  return {
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    prefix: s3.prefix,
    countersSince: persisted?.since ?? null,
    requests,
    totalRequests: totalRequests(requests),
    cache: { dir, ...cacheUse(dir), maxBytes: s3.cacheSize },
  };
}

function cacheUse(dir: string): { entries: number; bytes: number } {
  if (!existsSync(localDbPath(dir))) return { entries: 0, bytes: 0 };
  const db = new Database(localDbPath(dir), { readonly: true });
  try {
    const r = db.query("SELECT COUNT(*) AS entries, COALESCE(SUM(size), 0) AS bytes FROM cache_entries").get() as { entries: number; bytes: number };
    return r;
  } catch {
    return { entries: 0, bytes: 0 }; // the schema is not written yet
  } finally {
    db.close();
  }
}
