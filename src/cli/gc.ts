/**
 * `ironcore-backup gc start|status`: garbage collection of a datastore. `start` queues a `gc`
 * task for the gc role (src/maintenance/gc-task.ts); `status` shows the running GC's phase and
 * progress, the last run's figures and the next scheduled GC job.
 */
import { defineCommand } from "citty";
import { assertGcAllowed, requireDatastore, withRegisteredStore } from "../datastore/admin/index.ts";
import type { GcResult } from "../maintenance/gc.ts";
import { gcStatus, type GcStatus } from "../maintenance/gc-status.ts";
import { bytesText } from "../maintenance/report.ts";
import type { StoredResult } from "../maintenance/record.ts";
import type { TaskEnv } from "../tasks/env.ts";
import { listJobs } from "../tasks/jobs.ts";
import { formatDuration, keyValues, listTasks, localTime } from "../tasks/task-info.ts";
import { UsageError } from "../util/errors.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult } from "./output.ts";
import { followArg, openTaskEnv, reportStarted, submitStoreTask } from "./task-start.ts";

const storeArg = { store: { type: "positional" as const, required: true as const, description: "datastore name" } };

const start = defineCommand({
  meta: { name: "start", description: "Start garbage collection of a datastore (a task of the gc role)" },
  args: {
    ...storeArg,
    "grace-seconds": { type: "string", description: "extra margin before the cutoff, seconds (default 300); 0 is safe with registered writers" },
    ...followArg,
    ...outputFormatArg,
    ...nodeArgs,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const env = openTaskEnv(nodeConfig(args));
    const options: Record<string, string> = {};
    if (args["grace-seconds"] !== undefined) {
      if (!/^\d+$/.test(args["grace-seconds"])) throw new UsageError(`--grace-seconds: expected a whole number of seconds, got '${args["grace-seconds"]}'`);
      options["grace-seconds"] = args["grace-seconds"];
    }
    // Refuse here too, so the operator sees the refusal at once instead of in a task log.
    await withRegisteredStore(requireDatastore(env.db, args.store), (ds) => assertGcAllowed(ds));
    await reportStarted(env, submitStoreTask(env, "gc", args.store, options), args.follow, format);
  },
});

export interface GcStatusReport extends GcStatus {
  /** Queued or running gc tasks of this store (the gc role may not have picked one up yet). */
  tasks: { upid: string; status: string }[];
  nextScheduled: { job: string; time: string } | null;
}

export function nextScheduled(env: TaskEnv, type: string, store: string): { job: string; time: string } | null {
  const due = listJobs(env)
    .filter((j) => j.type === type && j.store === store && j.enabled && j.nextRun)
    .sort((a, b) => Date.parse(a.nextRun!) - Date.parse(b.nextRun!))[0];
  return due ? { job: due.id, time: due.nextRun! } : null;
}

export function activeTasks(env: TaskEnv, type: string, store: string): { upid: string; status: string }[] {
  return listTasks(env, { state: "active", type, limit: 20 })
    .filter((t) => t.workerId === store || t.workerId?.startsWith(`${store}:`))
    .map((t) => ({ upid: t.upid, status: t.status }));
}

function renderGcStatus(s: GcStatusReport): string {
  const rows: [string, string | number][] = [["datastore", s.datastore]];
  if (s.running) {
    rows.push(["running", `yes (process ${s.running.pid}${s.running.upid ? `, task ${s.running.upid}` : ""}, since ${localTime(s.running.since)})`]);
    rows.push(["phase", s.running.phase]);
    rows.push(["progress", `${s.running.percent}% (${s.running.done} of ${s.running.total})`]);
  } else rows.push(["running", s.tasks.length ? `queued: ${s.tasks.map((t) => t.upid).join(", ")}` : "no"]);
  rows.push(...lastRunRows(s.last));
  rows.push(["next scheduled", s.nextScheduled ? `${localTime(s.nextScheduled.time)} (job ${s.nextScheduled.job})` : "-"]);
  return keyValues(rows);
}

function lastRunRows(last: StoredResult<GcResult> | null): [string, string | number][] {
  if (!last) return [["last run", "never"]];
  const r = last.summary;
  return [
    ["last run", `${localTime(last.finished)}: ${last.state}${last.upid ? ` (${last.upid})` : ""}`],
    ["removed", `${r.removedChunks} chunks, ${bytesText(r.removedBytes)}`],
    ["pending", `${r.pendingChunks} chunks, ${bytesText(r.pendingBytes)} (unreferenced, younger than the cutoff)`],
    ["in use", `${r.diskChunks} chunks, ${bytesText(r.diskBytes)} (dedup factor ${r.dedupFactor})`],
    ["duration", r.durationMs < 10_000 ? `${(r.durationMs / 1000).toFixed(1)}s` : formatDuration(r.durationMs / 1000)],
    ["errors", r.errors.length ? r.errors.join("; ") : "none"],
    ["warnings", r.warnings.length ? r.warnings.length : "none"],
  ];
}

const status = defineCommand({
  meta: { name: "status", description: "Show a datastore's garbage collection: running phase and progress, last result, next run" },
  args: { ...storeArg, ...outputFormatArg, ...nodeArgs },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const env = openTaskEnv(nodeConfig(args));
    const s = await withRegisteredStore(requireDatastore(env.db, args.store), (ds) => gcStatus(ds));
    const report: GcStatusReport = { ...s, tasks: activeTasks(env, "gc", args.store), nextScheduled: nextScheduled(env, "gc", args.store) };
    printResult(report, format, renderGcStatus);
  },
});

export default defineCommand({
  meta: { name: "gc", description: "Garbage collection: start it, see how it goes and how it went" },
  subCommands: { start, status },
});
