/**
 * `ironcore-backup verify start|status`: verification of datastores. `start` queues a `verify`
 * task for the verifier role (src/maintenance/verify-task.ts); `status` shows, per datastore,
 * what runs now, the last result and the next scheduled verify job.
 */
import { defineCommand } from "citty";
import { listDatastores, requireDatastore, withRegisteredStore } from "../datastore/admin/index.ts";
import { verifyStatus } from "../maintenance/verify.ts";
import { parseVerifyTaskOptions } from "../maintenance/verify-task.ts";
import { localTime, keyValues } from "../tasks/task-info.ts";
import { errorMessage } from "../util/errors.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { activeTasks, nextScheduled } from "./gc.ts";
import { outputFormatArg, parseOutputFormat, printResult } from "./output.ts";
import { followArg, openTaskEnv, reportStarted, submitStoreTask } from "./task-start.ts";

const start = defineCommand({
  meta: { name: "start", description: "Verify a datastore, a namespace or one snapshot (a task of the verifier role)" },
  args: {
    store: { type: "positional", required: true, description: "datastore name" },
    ns: { type: "string", description: "only this namespace and those below it" },
    snapshot: { type: "string", description: "only this snapshot: TYPE/ID/TIME (in --ns)" },
    "ignore-verified": { type: "boolean", description: "skip snapshots verified OK before unless outdated (default on; --no-ignore-verified checks all)" },
    "outdated-after": { type: "string", description: "with --ignore-verified: verify again after this many days" },
    "verify-window-days": { type: "string", description: "rolling window: verify the share of the chunks due so that N daily runs cover the store" },
    "max-concurrent-snapshots": { type: "string", description: "snapshots verified at the same time (default 2)" },
    "notification-mode": { type: "string", description: "always (default), error or never: which results are queued as notifications" },
    ...followArg,
    ...outputFormatArg,
    ...nodeArgs,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const options: Record<string, string> = {};
    for (const key of ["ns", "snapshot", "outdated-after", "verify-window-days", "max-concurrent-snapshots", "notification-mode"] as const) {
      const v = args[key];
      if (v !== undefined && v !== "") options[key] = String(v);
    }
    if (args["ignore-verified"] !== undefined) options["ignore-verified"] = String(args["ignore-verified"]);
    parseVerifyTaskOptions(options); // refuse bad options before queuing
    const env = openTaskEnv(nodeConfig(args));
    requireDatastore(env.db, args.store);
    await reportStarted(env, submitStoreTask(env, "verify", args.store, options), args.follow, format);
  },
});

export interface VerifyStoreStatus {
  datastore: string;
  running: { upid: string; status: string }[];
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
  nextScheduled: { job: string; time: string } | null;
  /** Why the store could not be read (not mounted, say). */
  error: string | null;
}

function render(list: VerifyStoreStatus[]): string {
  if (list.length === 0) return "no datastores";
  return list
    .map((s) =>
      keyValues([
        ["datastore", s.datastore],
        ["running", s.running.length ? s.running.map((t) => `${t.upid} (${t.status})`).join(", ") : "no"],
        ["last run", s.error ? `unknown: ${s.error}` : s.last ? `${localTime(s.last.finished)}: ${s.last.result}${s.last.upid ? ` (${s.last.upid})` : ""}` : "never"],
        ["snapshots", s.last ? `${s.last.snapshots.verified} verified, ${s.last.snapshots.failed} failed, ${s.last.snapshots.skipped} skipped` : "-"],
        ["chunks", s.last ? `${s.last.chunks.checked} checked, ${s.last.chunks.missing} missing, ${s.last.chunks.corrupt} corrupt` : "-"],
        ["failed", s.last?.failedSnapshots.length ? s.last.failedSnapshots.join(", ") : "-"],
        ["next scheduled", s.nextScheduled ? `${localTime(s.nextScheduled.time)} (job ${s.nextScheduled.job})` : "-"],
      ]),
    )
    .join("\n\n");
}

const status = defineCommand({
  meta: { name: "status", description: "Show verification per datastore: running, last result, next scheduled run" },
  args: { store: { type: "positional", required: false, description: "datastore name (default: all)" }, ...outputFormatArg, ...nodeArgs },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const env = openTaskEnv(nodeConfig(args));
    const entries = args.store ? [requireDatastore(env.db, args.store)] : listDatastores(env.db);
    const out: VerifyStoreStatus[] = [];
    for (const entry of entries) {
      const s: VerifyStoreStatus = { datastore: entry.name, running: activeTasks(env, "verify", entry.name), last: null, nextScheduled: nextScheduled(env, "verify", entry.name), error: null };
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
      out.push(s);
    }
    printResult(out, format, render);
  },
});

export default defineCommand({
  meta: { name: "verify", description: "Verification of datastores: start it, see the results" },
  subCommands: { start, status },
});
