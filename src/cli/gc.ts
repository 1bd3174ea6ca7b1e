/**
 * `ironcore-backup gc start|status`: garbage collection of a datastore. `start` queues a `gc`
 * task for the gc role (src/maintenance/gc-task.ts); `status` shows the running GC's phase and
 * progress, the last run's figures and the next scheduled GC job. Checks, refusals and the
 * report are shared with the API (src/maintenance/start-request.ts, status-report.ts).
 */
import { defineCommand } from "citty";
import { requireDatastore } from "../datastore/admin/index.ts";
import type { GcResult } from "../maintenance/gc.ts";
import { bytesText } from "../maintenance/report.ts";
import type { StoredResult } from "../maintenance/record.ts";
import { startGc } from "../maintenance/start-request.ts";
import { gcStatusReport, type GcStatusReport } from "../maintenance/status-report.ts";
import { LOCAL_ADMIN_AUTH_ID } from "../tasks/env.ts";
import { formatDuration, keyValues, localTime } from "../tasks/task-info.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult } from "./output.ts";
import { followArg, openTaskEnv, reportStarted } from "./task-start.ts";

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
    // Checked and refused (quarantine) before queuing, so the operator sees a refusal at once instead of in a task log.
    const row = await startGc(env, { store: args.store, authId: LOCAL_ADMIN_AUTH_ID, options: { "grace-seconds": args["grace-seconds"] } });
    await reportStarted(env, row, args.follow, format);
  },
});

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
    ["temp files removed", `${r.removedTempFiles ?? 0}${r.removedTempFiles ? `, ${bytesText(r.removedTempBytes)} (unfinished writes older than a day)` : ""}`],
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
    printResult(await gcStatusReport(env, requireDatastore(env.db, args.store)), format, renderGcStatus);
  },
});

export default defineCommand({
  meta: { name: "gc", description: "Garbage collection: start it, see how it goes and how it went" },
  subCommands: { start, status },
});
