/**
 * The `gc` task type (run by the `gc` role): one garbage collection of the datastore named in
 * the params. Options (job options or `gc start` flags): `grace-seconds` (extra margin before
 * the cutoff; default 300). A quarantined store is refused before anything is read, with
 * GC_QUARANTINE_REFUSAL as the task result; `task abort` stops it at the next batch.
 */
import { assertGcAllowed } from "../datastore/admin/index.ts";
import type { TaskHandler } from "../tasks/runner.ts";
import { UsageError } from "../util/errors.ts";
import { bytesText, figure } from "./report.ts";
import { garbageCollect } from "./gc.ts";
import { intOption, taskOptions, taskReport, withTaskStore } from "./task-support.ts";

export const GC_TASK_OPTIONS = ["grace-seconds"] as const;
const KNOWN: readonly string[] = GC_TASK_OPTIONS;

/** Job/CLI option strings; throws UsageError naming an unknown or bad option. */
export function parseGcTaskOptions(options: Record<string, string>): { graceSeconds: number | undefined } {
  const unknown = Object.keys(options).filter((k) => !KNOWN.includes(k));
  if (unknown.length) throw new UsageError(`gc: unknown option '${unknown[0]}'`, `known options: ${KNOWN.join(", ")}`);
  return { graceSeconds: intOption(options, "grace-seconds") };
}

export const gcTask: TaskHandler = async (ctx) => {
  const { graceSeconds } = parseGcTaskOptions(taskOptions(ctx));
  await withTaskStore(ctx, async (ds) => {
    assertGcAllowed(ds);
    ctx.log(`garbage collection of datastore ${ds.name}${graceSeconds !== undefined ? ` (grace ${graceSeconds} s)` : ""}`);
    const result = await garbageCollect(ds, ctx.signal, taskReport(ctx), { upid: ctx.upid, graceSeconds });
    ctx.log(
      `result: removed ${figure(result.removedChunks)} chunks (${bytesText(result.removedBytes)}), pending ${figure(result.pendingChunks)} (${bytesText(result.pendingBytes)}), ` +
        `in use ${figure(result.diskChunks)} (${bytesText(result.diskBytes)})`,
    );
    ctx.checkAbort();
    if (result.status === "error" || result.status === "aborted") throw new Error(result.state);
  });
};
