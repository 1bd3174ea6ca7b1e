/**
 * Last GC and last verify results of a datastore, for `datastore stats`.
 *
 * Two sources, the newer wins:
 *  - the catalog's `meta` table (`last_gc`, `last_verify`: JSON of MaintenanceResult), which
 *    GC and verify write when they finish (recordMaintenanceResult) and which travels with
 *    the datastore;
 *  - the node's task history (table `tasks`): the newest finished task of that type on the
 *    store, which also shows runs that crashed before they could record anything.
 */
import type { StateDb } from "../../state/db.ts";
import type { Catalog } from "../catalog/catalog.ts";

export type MaintenanceKind = "gc" | "verify";

export interface MaintenanceResult {
  /** The task's UPID, when it ran as a task. */
  upid: string | null;
  /** `OK`, `WARNINGS: N`, or the error text (the task result). */
  state: string;
  /** ISO 8601 end time. */
  finished: string;
  /** Figures the run reported (removed chunks, freed bytes, verified snapshots, …). */
  summary?: Record<string, unknown>;
}

const META_KEYS: Record<MaintenanceKind, string> = { gc: "last_gc", verify: "last_verify" };
/** Task types (UPID worker types) counted as GC or verify runs. */
const TASK_TYPE_SQL: Record<MaintenanceKind, string> = {
  gc: "(type = 'gc' OR type = 'garbage_collection')",
  verify: "(type LIKE 'verif%')",
};

/** Called by GC and verify when a run ends, so stats show it even on another node. */
export function recordMaintenanceResult(catalog: Catalog, kind: MaintenanceKind, result: MaintenanceResult): void {
  catalog.setMeta(META_KEYS[kind], JSON.stringify(result));
}

export function readMaintenanceResult(catalog: Catalog, kind: MaintenanceKind): MaintenanceResult | null {
  const text = catalog.getMeta(META_KEYS[kind]);
  if (!text) return null;
  try {
    const r = JSON.parse(text) as MaintenanceResult;
    return typeof r.state === "string" && typeof r.finished === "string" ? r : null;
  } catch {
    return null; // a damaged entry is not worth failing stats for
  }
}

export function lastMaintenanceTask(db: StateDb, store: string, kind: MaintenanceKind): MaintenanceResult | null {
  const exists = db.$client.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tasks'").get();
  if (!exists) return null;
  const row = db.$client
    .query(
      `SELECT upid, result, ended_at FROM tasks
       WHERE status = 'finished' AND ${TASK_TYPE_SQL[kind]}
         AND (worker_id = ?1 OR substr(worker_id, 1, length(?1) + 1) = ?1 || ':'
              OR (json_valid(params) AND json_extract(params, '$.store') = ?1))
       ORDER BY ended_at DESC, id DESC LIMIT 1`,
    )
    .get(store) as { upid: string; result: string | null; ended_at: number | null } | null;
  if (!row || row.ended_at === null) return null;
  return { upid: row.upid, state: row.result ?? "unknown", finished: new Date(row.ended_at).toISOString() };
}

export function newer(a: MaintenanceResult | null, b: MaintenanceResult | null): MaintenanceResult | null {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a.finished) >= Date.parse(b.finished) ? a : b;
}
