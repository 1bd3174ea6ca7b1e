/**
 * What one verify job carries around: its options, the chunk verifier, the result being
 * built, and the two things every pass does with a snapshot (check its files, record its
 * state in the manifest's unprotected part and the catalog).
 */
import type { Datastore } from "../datastore/datastore.ts";
import type { VerifyState } from "../datastore/manifest.ts";
import { describeSnapshot, type GroupRef, type Namespace, type SnapshotRef, snapshotKey } from "../datastore/snapshot-path.ts";
import type { SnapshotReader } from "../datastore/snapshot-reader.ts";
import { errorMessage } from "../util/errors.ts";
import type { Reporter } from "./report.ts";
import { type ChunkVerifier, isDataError, withRetry } from "./verify-chunk.ts";

export interface VerifyOptions {
  /** Task UPID, recorded in each snapshot's verify state. */
  upid?: string;
  /** Only this namespace and those below it. */
  ns?: Namespace;
  /** Only this group. */
  group?: GroupRef;
  /** Only this snapshot. */
  snapshot?: SnapshotRef;
  /** Skip snapshots verified before (ok), unless outdated (default true). Failed ones are always verified again. */
  ignoreVerified?: boolean;
  /** With ignoreVerified: verify again when the last verification is older than this many days. */
  outdatedAfterDays?: number;
  /** Rolling window: verify the share of all chunks that is due, so N daily runs cover the store. */
  verifyWindowDays?: number;
  /** Snapshots verified at the same time (default 2). */
  maxConcurrentSnapshots?: number;
  /** Chunk reads in flight per snapshot (default 4). */
  readConcurrency?: number;
  /** Pauses between attempts at a read that failed for a storage reason (default 250, 1000, 4000 ms). */
  retryDelaysMs?: number[];
  /** Window mode: time until the next run, seconds (default 86 400); the due share must fit. */
  windowRunIntervalSeconds?: number;
}

export interface BadChunk {
  digest: string;
  problem: "missing" | "corrupt";
  detail: string;
  /** Where the corrupt copy was moved (`.chunks/ab12/<digest>.0.bad`). */
  movedTo: string | null;
  /** Every snapshot that references the chunk ("vm/100/2026-…Z", namespace first when there is one). */
  snapshots: string[];
}

export interface WindowFigures {
  days: number;
  totalChunks: number;
  /** Chunks per run that spread the store over the window. */
  share: number;
  verifiedChunks: number;
  chunksPerSecond: number;
  /** Time the share takes at this run's rate. */
  projectedSeconds: number;
  intervalSeconds: number;
  /** The due share cannot finish before the next run. */
  outgrown: boolean;
  /** Chunks whose last verification is older than the window (or never), after this run. */
  overdueChunks: number;
  /** Snapshots whose chunks are not all verified within the window yet: no state recorded. */
  partialSnapshots: number;
  message: string | null;
}

export interface VerifyNotification {
  type: "verify";
  severity: "info" | "error";
  datastore: string;
  upid: string | null;
  title: string;
  body: string;
  fields: Record<string, string | number>;
}

export interface VerifyResult {
  status: "ok" | "failed" | "error" | "aborted";
  /** Task result text. */
  state: string;
  datastore: string;
  upid: string | null;
  mode: "snapshots" | "window";
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  snapshots: { total: number; verified: number; ok: number; failed: number; skipped: number; locked: number; incomplete: number };
  chunks: { checked: number; bytes: number; alreadyVerified: number; corrupt: number; missing: number; transient: number };
  throughput: { chunksPerSecond: number; bytesPerSecond: number };
  badChunks: BadChunk[];
  failedSnapshots: { snapshot: string; errors: string[] }[];
  transientErrors: { digest: string; error: string }[];
  window: WindowFigures | null;
  warnings: string[];
  errors: string[];
  notifications: VerifyNotification[];
}

export type SnapshotVerdict = "ok" | "failed" | "incomplete";

export class VerifyRun {
  readonly started = Date.now();
  /** Snapshots recorded as failed in this run (by key), so the reference scan does not repeat them. */
  readonly recordedFailed = new Set<string>();

  constructor(
    readonly ds: Datastore,
    readonly options: VerifyOptions,
    readonly verifier: ChunkVerifier,
    readonly log: Reporter,
    readonly signal: AbortSignal,
    readonly result: VerifyResult,
  ) {}

  get retryDelays(): number[] {
    return this.options.retryDelaysMs ?? [250, 1000, 4000];
  }

  warn(msg: string, fields?: Record<string, unknown>): void {
    if (this.result.warnings.length < 100) this.result.warnings.push(msg);
    this.log.warn(msg, fields);
  }

  /** Reads a manifest-listed file (size and SHA-256 checked), retrying storage failures. */
  readFile(reader: SnapshotReader, filename: string): Promise<Uint8Array> {
    return withRetry(() => reader.readFile(filename), this.retryDelays, (err, attempt, delay) =>
      this.log.warn(`snapshot ${describeSnapshot(reader.ref)}: reading '${filename}' failed (attempt ${attempt}), retrying in ${delay} ms: ${errorMessage(err)}`),
    );
  }

  /** Records the verdict in the manifest's unprotected part and the catalog; failures to record are warnings. */
  async record(ref: SnapshotRef, state: "ok" | "failed"): Promise<void> {
    const verify: VerifyState = { state, time: Math.floor(Date.now() / 1000) };
    if (this.options.upid) verify.upid = this.options.upid;
    try {
      await this.ds.snapshots.setVerifyState(ref, verify);
      if (state === "failed") this.recordedFailed.add(snapshotKey(ref));
    } catch (err) {
      this.warn(`snapshot ${describeSnapshot(ref)}: could not record verify state '${state}': ${errorMessage(err)}`, { snapshot: snapshotKey(ref) });
    }
  }

  /** Adds a snapshot's verdict to the result (and records it unless incomplete). */
  async conclude(ref: SnapshotRef, errors: string[], transient: boolean): Promise<SnapshotVerdict> {
    const s = this.result.snapshots;
    s.verified++;
    if (errors.length > 0) {
      s.failed++;
      this.result.failedSnapshots.push({ snapshot: snapshotKey(ref), errors: errors.slice(0, 20) });
      this.log.error(`snapshot ${describeSnapshot(ref)} failed verification: ${errors[0]}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ""}`, { snapshot: snapshotKey(ref) });
      await this.record(ref, "failed");
      return "failed";
    }
    if (transient) {
      s.incomplete++;
      this.warn(`snapshot ${describeSnapshot(ref)}: not all of it could be read (storage errors); its verify state is left unchanged`, { snapshot: snapshotKey(ref) });
      return "incomplete";
    }
    s.ok++;
    await this.record(ref, "ok");
    return "ok";
  }
}

/** A storage failure (after retries) as opposed to damaged data. */
export function isStorageFailure(err: unknown): boolean {
  return !isDataError(err) && (err as Error | undefined)?.name !== "DatastoreError";
}
