/**
 * Verification of a datastore: that every referenced chunk exists, decodes (header, CRC,
 * format) and matches its digest (encrypted chunks: format and CRC, the server has no key).
 * Two modes:
 *  - by snapshot (default): the selected snapshots (ns, group or one snapshot; ignoreVerified
 *    and outdatedAfterDays filter) are read and checked; verify-snapshots.ts;
 *  - rolling window (verifyWindowDays N): the due share of all chunks is checked and snapshot
 *    states are derived from chunk states; verify-window.ts.
 * Either way each snapshot's verdict (ok/failed, time, UPID) goes into its manifest's
 * unprotected part and the catalog; per-chunk results go into the catalog. A missing or
 * corrupt chunk is named, moved aside (`<digest>.<n>.bad`), and every snapshot in the store
 * that references it is listed and marked failed; the job then ends in error. Reads that
 * fail for storage reasons are retried and reported as such, never as corruption.
 *
 * Returns the result (with the notification events the caller queues) and records it in
 * the catalog (`verifyStatus`). Allowed in read-only and quarantined modes.
 */
import type { Datastore } from "../datastore/datastore.ts";
import { shortDigest } from "../datastore/digest.ts";
import { describeSnapshot } from "../datastore/snapshot-path.ts";
import { UsageError } from "../util/errors.ts";
import { loadResult, storeResult, type StoredResult } from "./record.ts";
import { bytesText, figure, type Report, Reporter } from "./report.ts";
import { ChunkVerifier } from "./verify-chunk.ts";
import { findReferences } from "./verify-references.ts";
import { type BadChunk, type VerifyNotification, type VerifyOptions, type VerifyResult, VerifyRun } from "./verify-run.ts";
import { selectSnapshots, verifySnapshots } from "./verify-snapshots.ts";
import { deriveSnapshotStates, verifyWindowShare } from "./verify-window.ts";

export type { BadChunk, VerifyNotification, VerifyOptions, VerifyResult, WindowFigures } from "./verify-run.ts";
export { needsVerify } from "./verify-snapshots.ts";

export async function verifyDatastore(ds: Datastore, signal: AbortSignal, report?: Report, options: VerifyOptions = {}): Promise<VerifyResult> {
  checkOptions(options);
  ds.assert("read", "verify");
  const log = new Reporter(report, { datastore: ds.name, ...(options.upid ? { upid: options.upid } : {}) });
  const result = emptyResult(ds, options);
  const run = new VerifyRun(ds, options, new ChunkVerifier(ds, Date.now(), options.retryDelaysMs ?? [250, 1000, 4000], log), log, signal, result);
  try {
    if (options.verifyWindowDays !== undefined) {
      result.window = await verifyWindowShare(run, options.verifyWindowDays);
      if (!signal.aborted) result.window.partialSnapshots = await deriveSnapshotStates(run, options.verifyWindowDays);
    } else {
      await verifySnapshots(run, await selectSnapshots(run));
    }
    run.verifier.flush();
    if (run.verifier.bad.size > 0 && !signal.aborted) await failReferencingSnapshots(run);
  } catch (err) {
    result.errors.push((err as Error).message);
    log.error(`verify failed: ${(err as Error).message}`);
  }
  return finish(run);
}

export function verifyStatus(ds: Datastore): StoredResult<VerifyResult> | null {
  return loadResult<VerifyResult>(ds.catalog, "verify");
}

function checkOptions(o: VerifyOptions): void {
  const positive = (name: string, v: number | undefined, integer = true) => {
    if (v === undefined) return;
    if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new UsageError(`${name}: expected a positive ${integer ? "whole " : ""}number, got ${v}`);
  };
  positive("--verify-window-days", o.verifyWindowDays);
  positive("--max-concurrent-snapshots", o.maxConcurrentSnapshots);
  positive("read concurrency", o.readConcurrency);
  if (o.outdatedAfterDays !== undefined && !(o.outdatedAfterDays >= 0)) throw new UsageError(`--outdated-after: expected days >= 0, got ${o.outdatedAfterDays}`);
  if (o.verifyWindowDays !== undefined && (o.snapshot || o.group)) {
    throw new UsageError("--verify-window-days covers the whole datastore (or a namespace); it cannot be combined with a group or snapshot");
  }
}

/** Lists every snapshot that references a bad chunk and marks those not yet marked failed. */
async function failReferencingSnapshots(run: VerifyRun): Promise<void> {
  const refs = await findReferences(run.ds, run.verifier.bad.keys(), run.signal);
  const marked = new Set<string>();
  for (const bad of run.verifier.bad.values()) {
    const users = refs.get(bad.digest) ?? [];
    const entry: BadChunk = { ...bad, snapshots: users.map((u) => u.key) };
    run.result.badChunks.push(entry);
    run.log.error(
      `chunk ${shortDigest(bad.digest)} is ${bad.problem}${bad.movedTo ? ` (moved aside to ${bad.movedTo})` : ""}; referenced by ${users.length} snapshot${users.length === 1 ? "" : "s"}: ${users.map((u) => describeSnapshot(u.ref)).join(", ") || "none"}`,
      { chunk: bad.digest },
    );
    for (const u of users) {
      if (run.recordedFailed.has(u.key) || marked.has(u.key)) continue;
      marked.add(u.key);
      await run.record(u.ref, "failed");
      if (!run.result.failedSnapshots.some((f) => f.snapshot === u.key)) {
        run.result.failedSnapshots.push({ snapshot: u.key, errors: [`references ${bad.problem} chunk ${shortDigest(bad.digest)}`] });
        run.result.snapshots.failed++;
      }
    }
  }
}

function emptyResult(ds: Datastore, options: VerifyOptions): VerifyResult {
  return {
    status: "ok",
    state: "OK",
    datastore: ds.name,
    upid: options.upid ?? null,
    mode: options.verifyWindowDays !== undefined ? "window" : "snapshots",
    startedAt: new Date().toISOString(),
    finishedAt: "",
    durationMs: 0,
    snapshots: { total: 0, verified: 0, ok: 0, failed: 0, skipped: 0, locked: 0, incomplete: 0 },
    chunks: { checked: 0, bytes: 0, alreadyVerified: 0, corrupt: 0, missing: 0, transient: 0 },
    throughput: { chunksPerSecond: 0, bytesPerSecond: 0 },
    badChunks: [],
    failedSnapshots: [],
    transientErrors: [],
    window: null,
    warnings: [],
    errors: [],
    notifications: [],
  };
}

function finish(run: VerifyRun): VerifyResult {
  const { result, verifier, log } = run;
  const finished = Date.now();
  result.finishedAt = new Date(finished).toISOString();
  result.durationMs = finished - run.started;
  const bad = [...verifier.bad.values()];
  result.chunks = {
    ...verifier.stats,
    corrupt: bad.filter((b) => b.problem === "corrupt").length,
    missing: bad.filter((b) => b.problem === "missing").length,
  };
  const seconds = Math.max(0.001, result.durationMs / 1000);
  result.throughput = { chunksPerSecond: Math.round(verifier.stats.checked / seconds), bytesPerSecond: Math.round(verifier.stats.bytes / seconds) };
  result.transientErrors = verifier.transientErrors;
  if (result.badChunks.length === 0) result.badChunks = bad.map((b) => ({ ...b, snapshots: [] })); // aborted before the reference scan
  const s = result.snapshots;
  const unreadable = verifier.stats.transient + s.incomplete;
  if (run.signal.aborted) {
    result.status = "aborted";
    result.state = "aborted";
  } else if (result.errors.length > 0) {
    result.status = "error";
    result.state = result.errors[0]!;
  } else if (s.failed > 0 || bad.length > 0) {
    result.status = "failed";
    result.state = `verification failed: ${s.failed} snapshot${s.failed === 1 ? "" : "s"} failed, ${bad.length} chunk${bad.length === 1 ? "" : "s"} missing or corrupt`;
  } else if (unreadable > 0) {
    result.status = "error";
    result.state = `verification incomplete: ${verifier.stats.transient} chunk reads and ${s.incomplete} snapshots failed for storage reasons (not corruption); run verify again`;
  } else {
    result.status = "ok";
    result.state = result.warnings.length > 0 ? `WARNINGS: ${result.warnings.length}` : "OK";
  }
  log.info(
    `verified ${figure(s.verified)} snapshots (${figure(s.ok)} ok, ${figure(s.failed)} failed, ${figure(s.skipped)} skipped); ` +
      `${figure(verifier.stats.checked)} chunks, ${bytesText(verifier.stats.bytes)} read at ${bytesText(result.throughput.bytesPerSecond)}/s; ${result.state}`,
  );
  result.notifications = notifications(result);
  storeResult(run.ds.catalog, "verify", { upid: result.upid, state: result.state, finished: result.finishedAt, summary: { ...result, notifications: [] } });
  return result;
}

function notifications(r: VerifyResult): VerifyNotification[] {
  if (r.status === "aborted") return [];
  const fields = { datastore: r.datastore, "failed-snapshots": r.snapshots.failed, "bad-chunks": r.badChunks.length, verified: r.snapshots.verified };
  const base = { type: "verify" as const, datastore: r.datastore, upid: r.upid, fields };
  if (r.status === "ok") {
    return [{ ...base, severity: "info", title: `Verification of datastore ${r.datastore} succeeded`, body: `${r.snapshots.verified} snapshots verified, ${r.chunks.checked} chunks read. ${r.state}` }];
  }
  const lines = [r.state];
  for (const b of r.badChunks.slice(0, 20)) lines.push(`chunk ${b.digest} ${b.problem}: ${b.snapshots.length ? b.snapshots.join(", ") : "no snapshot references it"}`);
  for (const f of r.failedSnapshots.slice(0, 20)) lines.push(`snapshot ${f.snapshot}: ${f.errors[0]}`);
  return [{ ...base, severity: "error", title: `Verification of datastore ${r.datastore} ${r.status === "failed" ? "failed" : "could not finish"}`, body: lines.join("\n") }];
}
