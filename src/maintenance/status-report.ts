/**
 * What `gc status` / `verify status` and the API's `GET /datastore/{store}/gc|verify` report:
 * one builder each, so the CLI and the API answer with the same JSON. The library's own view
 * (gc-status.ts, verify.ts) is what the datastore knows; this adds what the node knows: the
 * queued or running tasks of the store and the next scheduled job.
 */
import { withRegisteredStore, type RegisteredDatastore } from "../datastore/admin/index.ts";
import type { TaskEnv } from "../tasks/env.ts";
import { listJobs } from "../tasks/jobs.ts";
import { listTasks } from "../tasks/task-info.ts";
import { errorMessage } from "../util/errors.ts";
import { gcStatus, type GcStatus } from "./gc-status.ts";
import { verifyStatus } from "./verify.ts";

export interface ScheduledRun {
  job: string;
  time: string;
}

export interface ActiveTask {
  upid: string;
  status: string;
}

export interface GcStatusReport extends GcStatus {
  /** Queued or running gc tasks of this store (the gc role may not have picked one up yet). */
  tasks: ActiveTask[];
  nextScheduled: ScheduledRun | null;
}

export interface VerifyStoreStatus {
  datastore: string;
  running: ActiveTask[];
  last: {
    upid: string | null;
    /** The verdict: ok, failed (bad chunks or snapshots), error (could not finish) or aborted. */
    state: string;
    /** The task's result text (`OK`, `WARNINGS: N`, or the error). */
    result: string;
    finished: string;
    snapshots: { verified: number; ok: number; failed: number; skipped: number };
    chunks: { checked: number; missing: number; corrupt: number };
    failedSnapshots: string[];
  } | null;
  nextScheduled: ScheduledRun | null;
  /** Why the store could not be read (not mounted, say). */
  error: string | null;
}

/** The enabled job of this type and store that runs next, if any. */
export function nextScheduled(env: TaskEnv, type: string, store: string): ScheduledRun | null {
  const due = listJobs(env)
    .filter((j) => j.type === type && j.store === store && j.enabled && j.nextRun)
    .sort((a, b) => Date.parse(a.nextRun!) - Date.parse(b.nextRun!))[0];
  return due ? { job: due.id, time: due.nextRun! } : null;
}

/** Queued and running tasks of this type on this store (worker id `<store>` or `<store>:…`). */
export function activeTasks(env: TaskEnv, type: string, store: string): ActiveTask[] {
  return listTasks(env, { state: "active", type, limit: 20 })
    .filter((t) => t.workerId === store || t.workerId?.startsWith(`${store}:`))
    .map((t) => ({ upid: t.upid, status: t.status }));
}

/** Running GC (phase, progress), last result, queued tasks and next scheduled GC of one store. */
export async function gcStatusReport(env: TaskEnv, entry: RegisteredDatastore): Promise<GcStatusReport> {
  const s = await withRegisteredStore(entry, (ds) => gcStatus(ds));
  return { ...s, tasks: activeTasks(env, "gc", entry.name), nextScheduled: nextScheduled(env, "gc", entry.name) };
}

/**
 * Verification of one store: running tasks, the last result, the next scheduled run. A store
 * that cannot be read (not mounted) is reported with `error` instead of failing, so that a
 * status of all stores still shows the others.
 */
export async function verifyStoreStatus(env: TaskEnv, entry: RegisteredDatastore): Promise<VerifyStoreStatus> {
  const s: VerifyStoreStatus = {
    datastore: entry.name,
    running: activeTasks(env, "verify", entry.name),
    last: null,
    nextScheduled: nextScheduled(env, "verify", entry.name),
    error: null,
  };
  try {
    const last = await withRegisteredStore(entry, (ds) => verifyStatus(ds));
    if (last) {
      const r = last.summary;
      s.last = {
        upid: last.upid,
        state: r.status,
        result: last.state,
        finished: last.finished,
        snapshots: { verified: r.snapshots.verified, ok: r.snapshots.ok, failed: r.snapshots.failed, skipped: r.snapshots.skipped },
        chunks: { checked: r.chunks.checked, missing: r.chunks.missing, corrupt: r.chunks.corrupt },
        failedSnapshots: r.failedSnapshots.map((f) => f.snapshot),
      };
    }
  } catch (err) {
    s.error = errorMessage(err);
  }
  return s;
}
