/**
 * Verify by snapshot (the classic mode): each selected snapshot is read under a shared lock
 * (so it cannot be forgotten meanwhile), every file is checked against the manifest, every
 * chunk of every index is checked (once per job), and the verdict is recorded.
 */
import { type ChunkIndex, isIndexFilename, parseChunkIndex } from "../datastore/chunk-index.ts";
import { shortDigest } from "../datastore/digest.ts";
import type { ManifestFile, VerifyState } from "../datastore/manifest.ts";
import { describeSnapshot, type SnapshotRef, snapshotKey } from "../datastore/snapshot-path.ts";
import type { SnapshotReader } from "../datastore/snapshot-reader.ts";
import { errorMessage } from "../util/errors.ts";
import { forEachLimited } from "../util/for-each-limited.ts";
import { walkSnapshots } from "./snapshot-walk.ts";
import { isStorageFailure, type VerifyOptions, type VerifyRun } from "./verify-run.ts";

/** The snapshots a job covers, oldest group order as listed. Only references: small even for 10 000 snapshots. */
export async function selectSnapshots(run: VerifyRun): Promise<SnapshotRef[]> {
  const { ds, options } = run;
  if (options.snapshot) return [options.snapshot];
  if (options.group) return (await ds.snapshots.list(options.group)).map((s) => s.ref);
  const refs: SnapshotRef[] = [];
  for await (const dir of walkSnapshots(ds.backend, options.ns ?? [])) if (dir.complete) refs.push(dir.ref);
  return refs;
}

/** PBS's filter, except that a failed snapshot is always verified again (so a healed one turns ok). */
export function needsVerify(previous: VerifyState | undefined, options: VerifyOptions, nowSec: number): boolean {
  if (options.ignoreVerified === false) return true;
  if (!previous || previous.state === "failed") return true;
  if (options.outdatedAfterDays === undefined) return false;
  if (previous.time === undefined) return true;
  return (nowSec - previous.time) / 86400 > options.outdatedAfterDays;
}

export async function verifySnapshots(run: VerifyRun, refs: SnapshotRef[]): Promise<void> {
  const limit = Math.max(1, run.options.maxConcurrentSnapshots ?? 2);
  run.result.snapshots.total = refs.length;
  let done = 0;
  await forEachLimited(
    refs,
    limit,
    async (ref) => {
      await verifyOne(run, ref);
      run.log.progress("verify", ++done, refs.length);
    },
    () => run.signal.aborted,
  );
}

async function verifyOne(run: VerifyRun, ref: SnapshotRef): Promise<void> {
  let reader: SnapshotReader;
  try {
    reader = await run.ds.snapshots.openReader(ref);
  } catch (err) {
    const name = (err as Error).name;
    if (name === "LockedError") {
      run.result.snapshots.locked++;
      run.warn(`snapshot ${describeSnapshot(ref)} skipped: ${errorMessage(err)}`, { snapshot: snapshotKey(ref) });
    } else if (/does not exist/.test(errorMessage(err))) {
      run.result.snapshots.skipped++; // forgotten since it was listed
    } else {
      run.result.snapshots.verified++;
      run.result.snapshots.failed++;
      run.result.failedSnapshots.push({ snapshot: snapshotKey(ref), errors: [errorMessage(err)] });
      run.log.error(`snapshot ${describeSnapshot(ref)}: manifest unreadable: ${errorMessage(err)}`, { snapshot: snapshotKey(ref) });
    }
    return;
  }
  try {
    if (!needsVerify(reader.manifest.unprotected.verify_state, run.options, Math.floor(Date.now() / 1000))) {
      run.result.snapshots.skipped++;
      return;
    }
    run.log.info(`verifying snapshot ${describeSnapshot(ref)}`, { snapshot: snapshotKey(ref) });
    const errors: string[] = [];
    let transient = false;
    for (const file of reader.files) {
      if (run.signal.aborted) return;
      try {
        const bytes = await run.readFile(reader, file.filename);
        if (!isIndexFilename(file.filename)) continue;
        const index = parseChunkIndex(file.filename, bytes, `${snapshotKey(ref)}/${file.filename}`);
        transient = (await checkIndexChunks(run, file, index, errors)) || transient;
      } catch (err) {
        if (isStorageFailure(err)) {
          transient = true;
          run.warn(`snapshot ${describeSnapshot(ref)}: '${file.filename}' could not be read: ${errorMessage(err)}`, { snapshot: snapshotKey(ref) });
        } else errors.push(`file '${file.filename}': ${errorMessage(err)}`);
      }
    }
    if (run.signal.aborted) return;
    run.verifier.flush();
    await run.conclude(ref, errors, transient);
  } finally {
    reader.release();
  }
}

/** Checks every distinct chunk of an index; adds errors; returns true when a read failed for a storage reason. */
async function checkIndexChunks(run: VerifyRun, file: ManifestFile, index: ChunkIndex, errors: string[]): Promise<boolean> {
  const wantEncrypted = file.crypt_mode === "encrypt";
  let transient = false;
  await forEachLimited(
    index.uniqueDigests(),
    Math.max(1, run.options.readConcurrency ?? 4),
    async (digest) => {
      const outcome = await run.verifier.check(digest);
      if (outcome.kind === "ok") {
        if (outcome.encrypted !== null && outcome.encrypted !== wantEncrypted) {
          errors.push(`chunk ${shortDigest(digest)} of '${file.filename}' is ${outcome.encrypted ? "encrypted" : "not encrypted"}, but the manifest says '${file.crypt_mode}'`);
        }
      } else if (outcome.kind === "missing" || outcome.kind === "corrupt") {
        errors.push(outcome.detail);
      } else if (outcome.kind === "transient") transient = true;
    },
    () => run.signal.aborted,
  );
  return transient;
}
