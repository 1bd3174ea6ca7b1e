/**
 * The `verify` task type (run by the `verifier` role, in a worker slot). Options, as strings
 * (job options or `verify start` flags): `ns`, `snapshot` (TYPE/ID/TIME, in `ns`),
 * `ignore-verified`, `outdated-after` (days), `verify-window-days`, `max-concurrent-snapshots`,
 * `notification-mode` (always | error | never: which of the run's events go to the outbox).
 *
 * A verification that finds missing or corrupt chunks ends the task in error; the error text
 * names the chunks and the snapshots that reference them (the full list is in the task log).
 */
import { parseNamespace, validateSnapshot, type SnapshotRef } from "../datastore/snapshot-path.ts";
import { parseNotificationMode, queueNotification, wanted, type NotificationMode } from "../notify/outbox.ts";
import type { TaskHandler } from "../tasks/runner.ts";
import { UsageError } from "../util/errors.ts";
import { boolOption, intOption, taskOptions, taskReport, withTaskStore } from "./task-support.ts";
import { verifyDatastore, type VerifyOptions, type VerifyResult } from "./verify.ts";

const KNOWN = ["ns", "snapshot", "ignore-verified", "outdated-after", "verify-window-days", "max-concurrent-snapshots", "notification-mode"];
const LISTED_IN_ERROR = 5;

export interface VerifyTaskOptions {
  verify: VerifyOptions;
  notificationMode: NotificationMode;
}

/** Job/CLI option strings to library options; throws UsageError naming the bad option. */
export function parseVerifyTaskOptions(options: Record<string, string>): VerifyTaskOptions {
  const unknown = Object.keys(options).filter((k) => !KNOWN.includes(k));
  if (unknown.length) throw new UsageError(`verify: unknown option '${unknown[0]}'`, `known options: ${KNOWN.join(", ")}`);
  const ns = options.ns ? parseNamespace(options.ns) : undefined;
  const verify: VerifyOptions = {
    ns,
    snapshot: options.snapshot ? parseSnapshotOption(options.snapshot, ns ?? []) : undefined,
    ignoreVerified: boolOption(options, "ignore-verified"),
    outdatedAfterDays: intOption(options, "outdated-after", 1),
    verifyWindowDays: intOption(options, "verify-window-days", 1),
    maxConcurrentSnapshots: intOption(options, "max-concurrent-snapshots", 1),
  };
  if (verify.snapshot && verify.verifyWindowDays !== undefined) throw new UsageError("verify: --snapshot and --verify-window-days do not go together");
  return { verify, notificationMode: parseNotificationMode(options["notification-mode"], "notification-mode") };
}

function parseSnapshotOption(text: string, ns: readonly string[]): SnapshotRef {
  const parts = text.split("/");
  if (parts.length !== 3) throw new UsageError(`verify: snapshot '${text}' is not TYPE/ID/TIME`, "e.g. host/web1/2026-11-26T19:00:00Z (namespace with --ns)");
  return validateSnapshot({ ns, type: parts[0] as SnapshotRef["type"], id: parts[1]!, time: parts[2]! });
}

export const verifyTask: TaskHandler = async (ctx) => {
  const { verify, notificationMode } = parseVerifyTaskOptions(taskOptions(ctx));
  await withTaskStore(ctx, async (ds) => {
    ctx.log(`verification of datastore ${ds.name}${verify.ns?.length ? ` namespace ${verify.ns.join("/")}` : ""}${verify.snapshot ? ` snapshot ${verify.snapshot.type}/${verify.snapshot.id}/${verify.snapshot.time}` : ""}`);
    const result = await verifyDatastore(ds, ctx.signal, taskReport(ctx), { ...verify, upid: ctx.upid });
    const s = result.snapshots;
    ctx.log(`snapshots: ${s.verified} verified, ${s.ok} ok, ${s.failed} failed, ${s.skipped} skipped; chunks: ${result.chunks.checked} checked, ${result.chunks.missing} missing, ${result.chunks.corrupt} corrupt`);
    for (const n of result.notifications) {
      if (!wanted(notificationMode, n.severity)) continue;
      queueNotification(ctx.env.db, { type: n.type, severity: n.severity, fields: { ...n.fields, datastore: n.datastore, upid: n.upid, title: n.title, body: n.body, job: ctx.params.job ?? null } });
      ctx.log(`notification queued: ${n.title}`);
    }
    ctx.checkAbort();
    if (result.status !== "ok") throw new Error(failureText(result));
  });
};

/** The task's error: the library's verdict, then the bad chunks and failed snapshots by name. */
export function failureText(r: VerifyResult): string {
  const parts = [r.state];
  const chunks = r.badChunks.slice(0, LISTED_IN_ERROR).map((b) => `chunk ${b.digest} ${b.problem}${b.snapshots.length ? ` (used by ${b.snapshots.join(", ")})` : ""}`);
  if (r.badChunks.length > LISTED_IN_ERROR) chunks.push(`${r.badChunks.length - LISTED_IN_ERROR} more chunks in the task log`);
  if (chunks.length) parts.push(chunks.join("; "));
  const snaps = r.failedSnapshots.map((f) => f.snapshot);
  if (snaps.length) parts.push(`failed snapshots: ${snaps.slice(0, LISTED_IN_ERROR * 2).join(", ")}${snaps.length > LISTED_IN_ERROR * 2 ? ` and ${snaps.length - LISTED_IN_ERROR * 2} more` : ""}`);
  return parts.join(" - ");
}
