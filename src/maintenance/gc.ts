/**
 * Garbage collection: removes the chunks no snapshot references. No atime, no filesystem
 * semantics: the same code on a local disk, NFS or S3. The catalog is the mark set (one
 * `mark_gen` per chunk row), so memory stays bounded however large the store is.
 *
 * SAFETY ARGUMENT (docs/formats.md §10 says the same in prose)
 *
 * Terms. A chunk row has `state` (0 stored, 1 write started, 2 condemned), `mark_gen` and
 * `last_touched` (unix ms; it only grows). A *claim* is the single SQLite statement
 *     UPDATE chunks SET last_touched = max(last_touched, now) WHERE digest = ? AND state = 0
 * whose success means "stored, and touched now". Datastore.hasChunks (dedup queries) and the
 * commit check (every chunk a new manifest references) answer only through claims. SQLite
 * serialises writes, so claims and GC's condemnations of one row happen in a total order.
 * A *writer* (backup session, sync) registers an epoch `w` in the catalog's `writers` table
 * before its first dedup decision (SnapshotStore.begin, Datastore.registerWriter) and removes
 * it only after its manifest and catalog row are written (or it aborted).
 *
 * A GC run:
 *  1. takes `.ibs/locks/gc.lck` exclusively and settles rows a dead GC left condemned;
 *  2. reads the clock S, then the live writers (pid + start time still running); the cutoff is
 *     T = min(S, oldest live w) - grace;
 *  3. takes a new generation G and marks every chunk referenced by any index in any snapshot
 *     directory of the backend listing, which starts after step 2;
 *  4. per batch: condemns, atomically per row, chunks with state = 0, mark_gen < G and
 *     last_touched < T; deletes their objects; then drops their rows. (Two batches overlap, one
 *     deleting while the next is condemned; within a batch the order is always this one.)
 *
 * Claim: a chunk X referenced by a snapshot P that is visible at any time is never deleted.
 *  (a) P was visible when the listing of step 3 passed it: X has mark_gen = G; not condemned.
 *  (b) Otherwise P's manifest was written after that point, by a writer W with epoch w that
 *      claimed X in its commit check (after registering) before writing the manifest.
 *      - Claim before condemnation: last_touched >= the claim's clock reading t >= w. If W was
 *        live at step 2, T <= w <= t. If W registered after step 2 read the writers, its
 *        claim read the clock after that read, so t >= S >= T. Either way the condition
 *        last_touched < T fails: X is not condemned, in this run or a later one while W lives;
 *        once W is done, P is visible and case (a) covers later runs.
 *      - Condemnation before claim: the claim fails (state 2) and the commit is refused,
 *        naming the chunk. No manifest ever references the deleted object.
 *  (c) Dedup: hasChunks answers "absent" for a condemned row, so the writer uploads X again.
 *      insertChunk waits until GC has deleted the object and dropped the row, then stores X
 *      anew; if GC condemns a row between insertChunk's touch and its final "stored" update,
 *      that update is refused and insertChunk stores X again. A row is never set back to
 *      "stored" over a deletion in progress.
 *  (d) A writer that died no longer holds back the cutoff: what it committed is case (a), and
 *      it commits nothing more. Its row is removed here.
 * A GC killed mid-sweep leaves condemned rows that dedup and commits treat as absent; objects
 * are only ever deleted for condemned rows. The next GC (or a writer that meets such a row
 * while gc.lck is free, holding it shared meanwhile) stats the object and sets the row stored
 * again or drops it. So a crash loses nothing that is referenced.
 *
 * The grace window (default 5 minutes) pulls T back further. It covers clock steps smaller
 * than itself (NTP), and chunks sent by a client that uploads before its session registers.
 */
import type { Datastore } from "../datastore/datastore.ts";
import { LockedError, ModeError } from "../datastore/errors.ts";
import { GC_LOCK_PURPOSE, holderText, lockWithTimeout, readHolder, REINDEX_LOCK_PURPOSE } from "../datastore/lock.ts";
import { errorMessage, IbsError } from "../util/errors.ts";
import { processAlive } from "../util/proc.ts";
import { markReferencedChunks, MarkSet } from "./gc-mark.ts";
import { type SweepHooks, sweepBadCopies, sweepUnmarked } from "./gc-sweep.ts";
import { GC_PROGRESS_KEY, storeResult, taskState } from "./record.ts";
import { bytesText, figure, type Report, Reporter } from "./report.ts";
import { RESERVE_BYTES } from "../datastore/space-reserve.ts";

export interface GcOptions {
  /** Task UPID, recorded with the result. */
  upid?: string;
  /** Extra margin before the cutoff, seconds (default 300). 0 is safe with registered writers. */
  graceSeconds?: number;
  /** Chunks condemned and deleted per batch (default 1000). */
  batchSize?: number;
  /** Digests remembered to skip repeated marks (default 65 536: about 6 MiB). */
  markCacheSize?: number;
  /** How long to wait for the GC lock, ms (default 3000: writers probe it shared, briefly). */
  lockWaitMs?: number;
  /** Interleaving points for tests. */
  hooks?: GcHooks;
}

export interface GcHooks extends SweepHooks {
  /** After the cutoff is fixed, before marking. */
  afterCutoff?: () => Promise<void> | void;
  /** After marking, before sweeping. */
  afterMark?: () => Promise<void> | void;
}

export type GcPhase = "starting" | "mark" | "sweep" | "bad-copies" | "done";

export interface GcResult {
  status: "ok" | "warnings" | "error" | "aborted";
  /** Task result text: `OK`, `WARNINGS: N`, `aborted` or the error. */
  state: string;
  datastore: string;
  upid: string | null;
  /** The phase reached (where an error or abort stopped it). */
  phase: GcPhase;
  generation: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Chunks untouched since this time (and unmarked) were removable. */
  cutoff: string;
  graceSeconds: number;
  oldestWriter: { pid: number; purpose: string; since: string } | null;
  snapshots: number;
  indexFiles: number;
  indexEntries: number;
  /** Logical bytes the indexes describe. */
  indexDataBytes: number;
  /** Chunks in use after the run (referenced) and their stored bytes. */
  diskChunks: number;
  diskBytes: number;
  removedChunks: number;
  removedBytes: number;
  /** Unreferenced chunks kept because they are younger than the cutoff (a later run removes them). */
  pendingChunks: number;
  pendingBytes: number;
  removedBad: number;
  stillBad: number;
  /** Temp files of writes killed mid-way, older than a day (local datastores), and their bytes. */
  removedTempFiles: number;
  removedTempBytes: number;
  /** Referenced chunks that exist nowhere (verify names the snapshots). */
  missingChunks: number;
  /** Rows a crashed GC had left condemned, settled at the start. */
  settledCondemned: number;
  deadWritersRemoved: number;
  cache: { hits: number; misses: number };
  /** indexDataBytes / diskBytes. */
  dedupFactor: number;
  warnings: string[];
  errors: string[];
}

export const QUARANTINE_REFUSAL = "datastore is quarantined: do not run garbage collection until the root cause is established";
const MAX_LISTED_WARNINGS = 100;

/**
 * Runs one garbage collection. Throws (before doing anything) when the datastore's mode
 * forbids it or another GC runs; otherwise returns the result, also when it failed or was
 * aborted, and records it in the catalog (`gcStatus`).
 */
export async function garbageCollect(ds: Datastore, signal: AbortSignal, report?: Report, options: GcOptions = {}): Promise<GcResult> {
  refuseUnlessAllowed(ds);
  const log = new Reporter(report, { datastore: ds.name, ...(options.upid ? { upid: options.upid } : {}) });
  // On a full filesystem the lock file and the catalog need room before anything is deleted.
  if (ds.reserve.releaseIfLow()) log.warn(`datastore ${ds.name} is full: its ${bytesText(RESERVE_BYTES)} space reserve was given up so that garbage collection can run`);
  const lock = await lockWithTimeout(ds.locks.gc(), "exclusive", GC_LOCK_PURPOSE, options.lockWaitMs ?? 3000);
  if (!lock) {
    const h = readHolder(ds.locks.gc());
    const holder = holderText(h);
    if (h?.purpose === REINDEX_LOCK_PURPOSE) {
      throw new LockedError(`garbage collection of datastore ${ds.name} cannot start while the datastore is reindexed (${holder})`, "run it again when the reindex has finished");
    }
    throw new LockedError(`garbage collection of datastore ${ds.name} is already running (${holder})`, "wait for it to finish (ironcore-backup gc status)");
  }
  const started = Date.now();
  const grace = options.graceSeconds ?? 300;
  const result = emptyResult(ds, options, started, grace);
  let warningCount = 0;
  const warn = (msg: string, fields?: Record<string, unknown>) => {
    warningCount++;
    if (result.warnings.length < MAX_LISTED_WARNINGS) result.warnings.push(msg);
    else if (result.warnings.length === MAX_LISTED_WARNINGS) result.warnings.push("… further warnings are in the task log");
    log.warn(msg, fields);
  };
  const progress = (phase: GcPhase, done: number, total: number, force = false) => {
    result.phase = phase;
    if (log.progress(phase, done, total, force)) {
      ds.catalog.setMeta(GC_PROGRESS_KEY, JSON.stringify({ pid: process.pid, upid: result.upid, phase, done, total, since: result.startedAt, updated: new Date().toISOString() }));
    }
  };
  const marks = new MarkSet(ds);
  // GC reads and writes the chunk index in digest order (range updates, then a cursor), so a
  // small page cache serves it as well as the catalog's 64 MiB one; this connection is GC's
  // own (each task opens the datastore), and the memory goes to the mark set's cache instead.
  const cacheSize = (ds.catalog.db.query("PRAGMA main.cache_size").get() as { cache_size: number }).cache_size;
  try {
    ds.catalog.db.exec("PRAGMA main.cache_size = -16384");
    progress("starting", 0, 1, true);
    result.settledCondemned = await settleLeftovers(ds);
    if (result.settledCondemned) log.info(`settled ${result.settledCondemned} chunk rows an interrupted garbage collection had left condemned`);

    // The clock is read before the writers: see (b) in the safety argument.
    const clock = Date.now();
    const writers = liveWriters(ds, result);
    const oldest = writers[0];
    const cutoff = Math.min(clock, oldest?.started ?? clock) - grace * 1000;
    result.cutoff = new Date(cutoff).toISOString();
    if (oldest) {
      result.oldestWriter = { pid: oldest.pid, purpose: oldest.purpose, since: new Date(oldest.started).toISOString() };
      log.info(`oldest active writer: pid ${oldest.pid} (${oldest.purpose}) since ${result.oldestWriter.since}; chunks it may use are kept`);
    }
    result.generation = ds.catalog.nextGcGeneration();
    const badCopies = ds.catalog.badChunkRows();
    await options.hooks?.afterCutoff?.();

    log.info(`phase 1: marking chunks referenced by any snapshot (generation ${result.generation})`);
    progress("mark", 0, 1, true);
    const mark = await markReferencedChunks(ds, result.generation, marks, {
      signal,
      warn,
      progress: (done, total) => progress("mark", done, total),
      cacheSize: options.markCacheSize ?? 65536,
    });
    Object.assign(result, { snapshots: mark.snapshots, indexFiles: mark.indexFiles, indexEntries: mark.indexEntries, indexDataBytes: mark.indexDataBytes, missingChunks: mark.missingChunks, cache: mark.cache });
    if (mark.adoptedChunks) log.info(`added ${mark.adoptedChunks} referenced chunks the catalog did not know`);
    if (mark.aborted) return finish(ds, result, log, "aborted", warningCount);
    progress("mark", 1, 1, true);
    log.info(`marked ${figure(mark.indexEntries)} index entries in ${figure(mark.indexFiles)} index files of ${figure(mark.snapshots)} snapshots`);
    await options.hooks?.afterMark?.();

    log.info(`phase 2: removing unreferenced chunks untouched since ${result.cutoff}`);
    progress("sweep", 0, 1, true);
    const sweep = await sweepUnmarked(ds, result.generation, cutoff, {
      signal,
      batchSize: options.batchSize ?? 1000,
      progress: (done, total) => progress("sweep", done, total),
      hooks: options.hooks,
    });
    result.removedChunks = sweep.removedChunks;
    result.removedBytes = sweep.removedBytes;
    if (sweep.aborted) return finish(ds, result, log, "aborted", warningCount);
    progress("sweep", 1, 1, true);

    progress("bad-copies", 0, 1, true);
    Object.assign(result, await sweepBadCopies(ds, badCopies, marks));
    await removeStaleTemp(ds, result, log, warn);
    return finish(ds, result, log, warningCount > 0 ? "warnings" : "ok", warningCount);
  } catch (err) {
    const msg = errorMessage(err);
    result.errors.push(msg);
    log.error(`garbage collection failed in phase ${result.phase}: ${msg}`, { err: msg });
    if (!(err instanceof IbsError)) log.error("this looks like a bug; nothing referenced was removed");
    return finish(ds, result, log, "error", warningCount);
  } finally {
    try {
      marks.drop();
      ds.catalog.db.exec(`PRAGMA main.cache_size = ${Math.trunc(cacheSize)}`);
      ds.catalog.setMeta(GC_PROGRESS_KEY, "");
    } finally {
      lock.release(); // also when the bookkeeping above fails (a full disk): never a GC lock left held
      ds.reserve.ensure(); // taken again once the sweep has made room for it
    }
  }
}

function refuseUnlessAllowed(ds: Datastore): void {
  const { mode, mode_reason } = ds.config;
  if (mode === "quarantined") {
    throw new ModeError(
      `${QUARANTINE_REFUSAL} (datastore ${ds.name}${mode_reason ? `, reason: ${mode_reason}` : ""})`,
      "find and fix the cause first; verify and restore still work. Run garbage collection once the datastore is set online again",
    );
  }
  ds.assert("write", "run garbage collection");
}

/**
 * Temp files of writes that never finished (local backend): invisible to everything, but they
 * take space. A day old is far past any write still in progress (a write is one chunk or index).
 * Housekeeping only: when it fails, the GC ends with a warning, not an error.
 */
async function removeStaleTemp(ds: Datastore, result: GcResult, log: Reporter, warn: (msg: string) => void): Promise<void> {
  if (!ds.backend.removeStaleTemp) return;
  let removed: { files: number; bytes: number };
  try {
    removed = await ds.backend.removeStaleTemp(Date.now() - STALE_TEMP_AGE_MS);
  } catch (err) {
    warn(`temp files of unfinished writes not removed: ${errorMessage(err)}`);
    return;
  }
  result.removedTempFiles = removed.files;
  result.removedTempBytes = removed.bytes;
  if (removed.files > 0) log.info(`removed ${figure(removed.files)} temp files of unfinished writes (${bytesText(removed.bytes)}), older than a day`);
}

const STALE_TEMP_AGE_MS = 24 * 3600 * 1000;

/** Rows left condemned by a GC that died: it is gone (we hold its lock), so the object decides. */
async function settleLeftovers(ds: Datastore): Promise<number> {
  const rows = ds.catalog.condemnedChunks();
  for (const digest of rows) ds.catalog.settleCondemned(digest, (await ds.chunks.stat(digest)) !== null);
  return rows.length;
}

/** Live writer epochs, oldest first; rows of processes that are gone are removed. */
function liveWriters(ds: Datastore, result: GcResult) {
  const live = [];
  for (const w of ds.catalog.writers()) {
    if (processAlive(w.pid, w.pstart)) live.push(w);
    else {
      ds.catalog.unregisterWriter(w.id);
      result.deadWritersRemoved++;
    }
  }
  return live;
}

function emptyResult(ds: Datastore, options: GcOptions, started: number, grace: number): GcResult {
  return {
    status: "ok",
    state: "OK",
    datastore: ds.name,
    upid: options.upid ?? null,
    phase: "starting",
    generation: 0,
    startedAt: new Date(started).toISOString(),
    finishedAt: "",
    durationMs: 0,
    cutoff: "",
    graceSeconds: grace,
    oldestWriter: null,
    snapshots: 0,
    indexFiles: 0,
    indexEntries: 0,
    indexDataBytes: 0,
    diskChunks: 0,
    diskBytes: 0,
    removedChunks: 0,
    removedBytes: 0,
    pendingChunks: 0,
    pendingBytes: 0,
    removedBad: 0,
    stillBad: 0,
    removedTempFiles: 0,
    removedTempBytes: 0,
    missingChunks: 0,
    settledCondemned: 0,
    deadWritersRemoved: 0,
    cache: { hits: 0, misses: 0 },
    dedupFactor: 0,
    warnings: [],
    errors: [],
  };
}

function finish(ds: Datastore, result: GcResult, log: Reporter, status: GcResult["status"], warnings: number): GcResult {
  if (result.generation > 0) {
    const figures = ds.catalog.gcFigures(result.generation);
    result.diskChunks = figures.inUse.chunks;
    result.diskBytes = figures.inUse.bytes;
    // Only meaningful after a complete mark: before that "unmarked" is not "unreferenced".
    if (status !== "error" && result.phase !== "mark") {
      result.pendingChunks = figures.pending.chunks;
      result.pendingBytes = figures.pending.bytes;
    }
  }
  result.dedupFactor = result.diskBytes > 0 ? Math.round((result.indexDataBytes / result.diskBytes) * 100) / 100 : 0;
  result.status = status;
  result.state = taskState(status, warnings, result.errors[0]);
  if (status === "ok" || status === "warnings") result.phase = "done";
  const finished = Date.now();
  result.finishedAt = new Date(finished).toISOString();
  result.durationMs = finished - Date.parse(result.startedAt);
  if (status === "aborted") log.warn(`garbage collection aborted in phase ${result.phase}; what was removed so far was unreferenced`);
  log.info(
    `removed ${figure(result.removedChunks)} chunks (${bytesText(result.removedBytes)}); pending ${figure(result.pendingChunks)} (${bytesText(result.pendingBytes)}); ` +
      `in use ${figure(result.diskChunks)} (${bytesText(result.diskBytes)}); dedup factor ${result.dedupFactor}; ${result.durationMs} ms`,
  );
  storeResult(ds.catalog, "gc", { upid: result.upid, state: result.state, finished: result.finishedAt, summary: result });
  return result;
}
