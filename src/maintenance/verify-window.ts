/**
 * Rolling-window verify (`--verify-window-days N`): every chunk has a last-verified time in
 * the catalog; each run verifies the share of the store that is due (total / N chunks, least
 * recently verified first, never-verified first of all), so N daily runs cover the whole
 * store. Snapshot states are then derived from their chunks: failed when one is missing or
 * corrupt, ok when all were verified within the window, otherwise left as they are.
 *
 * When the share cannot be done before the next run (the run hit the interval, or its rate
 * projects past it), the store has outgrown the window and the result says so with figures.
 */
import { isIndexFilename, parseChunkIndex } from "../datastore/chunk-index.ts";
import { digestToBytes, shortDigest } from "../datastore/digest.ts";
import type { VerifyCursor } from "../datastore/catalog/catalog.ts";
import { describeSnapshot } from "../datastore/snapshot-path.ts";
import type { SnapshotReader } from "../datastore/snapshot-reader.ts";
import { errorMessage } from "../util/errors.ts";
import { LruSet } from "./bounded.ts";
import { forEachLimited } from "../util/for-each-limited.ts";
import { figure } from "./report.ts";
import { walkSnapshots } from "./snapshot-walk.ts";
import { isStorageFailure, type VerifyRun, type WindowFigures } from "./verify-run.ts";

const PAGE = 256;
const DAY_MS = 86_400_000;

export async function verifyWindowShare(run: VerifyRun, days: number): Promise<WindowFigures> {
  const { ds, options } = run;
  const intervalSeconds = options.windowRunIntervalSeconds ?? 86400;
  const totalChunks = ds.catalog.storedChunkCount();
  const share = Math.ceil(totalChunks / days);
  const deadline = run.started + intervalSeconds * 1000;
  const concurrency = Math.max(1, (options.readConcurrency ?? 4) * (options.maxConcurrentSnapshots ?? 2));
  run.log.info(`verify window of ${days} days: ${figure(totalChunks)} chunks, ${figure(share)} due in this run`);
  let cursor: VerifyCursor | null = null;
  let processed = 0;
  let hitDeadline = false;
  while (processed < share && !run.signal.aborted) {
    if (Date.now() >= deadline) {
      hitDeadline = true;
      break;
    }
    const page = ds.catalog.chunksDueForVerify(cursor, run.started, Math.min(PAGE, share - processed));
    if (page.length === 0) break;
    const last = page.at(-1)!;
    cursor = { verifiedAt: last.verifiedAt, digest: digestToBytes(last.digest) };
    const late = () => Date.now() >= deadline;
    await forEachLimited(
      page,
      concurrency,
      async (c) => {
        await run.verifier.check(c.digest, true);
        processed++;
        run.log.progress("verify chunks", processed, share);
      },
      () => run.signal.aborted || late(),
    );
    if (late() && processed < share) {
      hitDeadline = true;
      break;
    }
  }
  run.verifier.flush();
  const seconds = Math.max(0.001, (Date.now() - run.started) / 1000);
  const rate = processed / seconds;
  const projectedSeconds = rate > 0 ? share / rate : share > 0 ? Infinity : 0;
  const outgrown = hitDeadline || projectedSeconds > intervalSeconds;
  const figures: WindowFigures = {
    days,
    totalChunks,
    share,
    verifiedChunks: processed,
    chunksPerSecond: Math.round(rate * 10) / 10,
    projectedSeconds: Number.isFinite(projectedSeconds) ? Math.round(projectedSeconds) : -1,
    intervalSeconds,
    outgrown,
    overdueChunks: ds.catalog.chunksVerifiedBefore(Date.now() - days * DAY_MS),
    partialSnapshots: 0,
    message: null,
  };
  if (outgrown) {
    const neededDays = rate > 0 ? Math.ceil(totalChunks / (rate * intervalSeconds)) : null;
    figures.message =
      `the datastore has outgrown the verify window: ${figure(totalChunks)} chunks over ${days} days is ${figure(share)} chunks per run; ` +
      `this run verified ${figure(processed)} at ${figures.chunksPerSecond} chunks/s, so the share needs ${hours(projectedSeconds)}, ` +
      `${hitDeadline ? "and the run was stopped at" : "more than"} the ${hours(intervalSeconds)} until the next run` +
      `; raise --verify-window-days${neededDays ? ` to at least ${neededDays}` : ""} or make the storage faster`;
    run.warn(figures.message);
  }
  return figures;
}

function hours(seconds: number): string {
  if (!Number.isFinite(seconds)) return "an unknown time";
  return seconds < 3600 ? `${Math.round(seconds)} s` : `${(seconds / 3600).toFixed(1)} h`;
}

/** Derives and records snapshot states from chunk verify states. Returns how many stayed partial. */
export async function deriveSnapshotStates(run: VerifyRun, days: number): Promise<number> {
  const { ds } = run;
  const windowStart = Date.now() - days * DAY_MS;
  let partial = 0;
  let seen = 0;
  const expected = (ds.catalog.db.query("SELECT count(*) AS n FROM snapshots").get() as { n: number }).n;
  const covered = new LruSet(65536); // consecutive snapshots share most chunks: look each up once
  for await (const dir of walkSnapshots(ds.backend, run.options.ns ?? [])) {
    if (run.signal.aborted) break;
    if (!dir.complete) continue;
    run.result.snapshots.total++;
    let reader: SnapshotReader;
    try {
      reader = await ds.snapshots.openReader(dir.ref);
    } catch (err) {
      if ((err as Error).name === "LockedError") {
        run.result.snapshots.locked++;
        run.warn(`snapshot ${describeSnapshot(dir.ref)} skipped: ${errorMessage(err)}`, { snapshot: dir.key });
      } else run.result.snapshots.skipped++;
      continue;
    }
    try {
      const errors: string[] = [];
      let transient = false;
      let uncovered = 0;
      for (const file of reader.files) {
        try {
          const bytes = await run.readFile(reader, file.filename);
          if (!isIndexFilename(file.filename)) continue;
          for (const digest of parseChunkIndex(file.filename, bytes, `${dir.key}/${file.filename}`).uniqueDigests()) {
            const bad = run.verifier.bad.get(digest);
            if (bad) {
              errors.push(bad.detail);
              continue;
            }
            if (covered.has(digest)) continue;
            const info = ds.catalog.chunkVerifyInfo(digest);
            if (info && info.state === 0 && info.verifyState === "ok" && (info.verifiedAt ?? 0) >= windowStart) {
              covered.seen(digest);
              continue;
            }
            if (!info && !(await ds.chunks.stat(digest))) {
              const detail = `chunk ${shortDigest(digest)} is missing`;
              run.verifier.recordMissing(digest, detail);
              errors.push(detail);
              continue;
            }
            uncovered++;
          }
        } catch (err) {
          if (isStorageFailure(err)) transient = true;
          else errors.push(`file '${file.filename}': ${errorMessage(err)}`);
        }
      }
      if (errors.length > 0 || transient) await run.conclude(dir.ref, errors, transient);
      else if (uncovered > 0) partial++;
      else {
        const previous = reader.manifest.unprotected.verify_state;
        const fresh = previous?.state === "ok" && (previous.time ?? 0) * 1000 >= windowStart;
        if (fresh) run.result.snapshots.ok++;
        else await run.conclude(dir.ref, [], false);
      }
    } finally {
      reader.release();
    }
    run.log.progress("derive snapshot states", ++seen, Math.max(seen, expected));
  }
  if (partial > 0) run.log.info(`${figure(partial)} snapshots have chunks not yet verified within the window; their state stays as it was`);
  return partial;
}
