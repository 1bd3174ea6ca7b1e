/**
 * `ironcore-backup verify start|status`: verification of datastores. `start` queues a `verify`
 * task for the verifier role (src/maintenance/verify-task.ts); `status` shows, per datastore,
 * what runs now, the last result and the next scheduled verify job. Option checks and the
 * status report are shared with the API (src/maintenance/start-request.ts, status-report.ts).
 */
import { defineCommand } from "citty";
import { listDatastores, requireDatastore } from "../datastore/admin/index.ts";
import { startVerify, VERIFY_OPTION_NAMES, verifyStartOptions, type StartOptionValues } from "../maintenance/start-request.ts";
import { verifyStoreStatus, type VerifyStoreStatus } from "../maintenance/status-report.ts";
import { LOCAL_ADMIN_AUTH_ID } from "../tasks/env.ts";
import { localTime, keyValues } from "../tasks/task-info.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult } from "./output.ts";
import { followArg, openTaskEnv, reportStarted } from "./task-start.ts";

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
    const options: StartOptionValues = {};
    for (const key of VERIFY_OPTION_NAMES) options[key] = args[key];
    verifyStartOptions(options); // bad options are refused before the node state is opened
    const env = openTaskEnv(nodeConfig(args));
    const row = startVerify(env, { store: args.store, authId: LOCAL_ADMIN_AUTH_ID, options });
    await reportStarted(env, row, args.follow, format);
  },
});

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
    for (const entry of entries) out.push(await verifyStoreStatus(env, entry));
    printResult(out, format, render);
  },
});

export default defineCommand({
  meta: { name: "verify", description: "Verification of datastores: start it, see the results" },
  subCommands: { start, status },
});
