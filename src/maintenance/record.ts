/**
 * Last results of GC and verify, kept in the datastore catalog's `meta` table so they travel
 * with the datastore and show on any node (`datastore stats`, `gc status`, `verify status`).
 *
 * Keys and shape are the ones `src/datastore/admin/maintenance-status.ts` reads: `last_gc` and
 * `last_verify` hold `{upid, state, finished, summary}` where state is the task result text
 * (`OK`, `WARNINGS: N`, `aborted` or the error). `gc_progress` holds the running GC's phase.
 */
import type { Catalog } from "../datastore/catalog/catalog.ts";

export type MaintenanceKind = "gc" | "verify";

export interface StoredResult<S> {
  upid: string | null;
  state: string;
  /** ISO 8601 end time. */
  finished: string;
  summary: S;
}

const KEYS: Record<MaintenanceKind, string> = { gc: "last_gc", verify: "last_verify" };
export const GC_PROGRESS_KEY = "gc_progress";

export function storeResult<S>(catalog: Catalog, kind: MaintenanceKind, result: StoredResult<S>): void {
  catalog.setMeta(KEYS[kind], JSON.stringify(result));
}

export function loadResult<S>(catalog: Catalog, kind: MaintenanceKind): StoredResult<S> | null {
  const text = catalog.getMeta(KEYS[kind]);
  if (!text) return null;
  try {
    const parsed = JSON.parse(text) as StoredResult<S>;
    return typeof parsed.state === "string" ? parsed : null;
  } catch {
    return null; // a damaged record is not worth failing a status query for
  }
}

/** Task result text from a status and its warnings, in the task system's words. */
export function taskState(status: "ok" | "warnings" | "error" | "failed" | "aborted", warnings: number, error?: string): string {
  if (status === "aborted") return "aborted";
  if (status === "error" || status === "failed") return error ?? "error";
  return warnings > 0 ? `WARNINGS: ${warnings}` : "OK";
}
