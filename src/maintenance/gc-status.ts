/**
 * `gc status`: whether a GC runs on the datastore now (the holder of `.ibs/locks/gc.lck`, alive)
 * with its phase and progress, and the last result recorded in the catalog.
 */
import type { Datastore } from "../datastore/datastore.ts";
import { GC_LOCK_PURPOSE, readHolder } from "../datastore/lock.ts";
import { processAlive } from "../util/proc.ts";
import type { GcResult } from "./gc.ts";
import { GC_PROGRESS_KEY, loadResult, type StoredResult } from "./record.ts";

export interface GcRunning {
  pid: number;
  upid: string | null;
  since: string;
  phase: string;
  done: number;
  total: number;
  percent: number;
}

export interface GcStatus {
  datastore: string;
  running: GcRunning | null;
  last: StoredResult<GcResult> | null;
}

export function gcStatus(ds: Datastore): GcStatus {
  const holder = readHolder(ds.locks.gc());
  let running: GcRunning | null = null;
  // The GC lock's holder may be a `datastore reindex` (it holds the lock too): not a GC.
  if (holder && holder.purpose === GC_LOCK_PURPOSE && processAlive(holder.pid, holder.pstart)) {
    let progress: Partial<GcRunning> = {};
    try {
      progress = JSON.parse(ds.catalog.getMeta(GC_PROGRESS_KEY) || "{}");
    } catch {
      // progress is advisory
    }
    const done = progress.done ?? 0;
    const total = progress.total ?? 0;
    running = {
      pid: holder.pid,
      upid: progress.upid ?? null,
      since: new Date(holder.since).toISOString(),
      phase: progress.phase ?? "starting",
      done,
      total,
      percent: total > 0 ? Math.floor((done / total) * 1000) / 10 : 0,
    };
  }
  return { datastore: ds.name, running, last: loadResult<GcResult>(ds.catalog, "gc") };
}
