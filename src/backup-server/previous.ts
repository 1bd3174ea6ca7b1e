/**
 * The base snapshot of a backup session: the newest snapshot of the group that verify has not
 * marked failed (as PBS: a failed one may miss chunks, so the next backup re-uploads them and
 * heals the store), and only when it was made the same way (unencrypted, or encrypted with the
 * same key fingerprint), since its chunks are of no use otherwise. It is locked shared for the
 * whole session, so prune and forget cannot remove it while the new snapshot reuses its chunks.
 */
import type { Datastore } from "../datastore/datastore.ts";
import { LockedError } from "../datastore/errors.ts";
import type { Manifest } from "../datastore/manifest.ts";
import { describeSnapshot, type GroupRef, parseBackupTime, type SnapshotRef } from "../datastore/snapshot-path.ts";
import type { SnapshotReader } from "../datastore/snapshot-reader.ts";
import { errorMessage } from "../util/errors.ts";

export interface PreviousSnapshot {
  ref: SnapshotRef;
  manifest: Manifest;
  reader: SnapshotReader;
}

export interface PreviousChoice {
  previous: PreviousSnapshot | null;
  /** For the task log: which one was chosen, or why none. */
  note: string;
}

export interface SessionCrypt {
  cryptMode: "encrypt" | "none";
  keyFingerprint: string | null;
}

export async function openPrevious(store: Datastore, group: GroupRef, before: string, crypt: SessionCrypt): Promise<PreviousChoice> {
  const limit = parseBackupTime(before);
  const candidates = (await store.snapshots.list(group)).filter((s) => parseBackupTime(s.ref.time) < limit).reverse();
  for (const snap of candidates) {
    const what = describeSnapshot(snap.ref);
    let manifest: Manifest;
    try {
      manifest = (await store.snapshots.readManifest(snap.ref)).manifest;
    } catch (err) {
      return { previous: null, note: `previous snapshot ${what} is unreadable (${errorMessage(err)}): uploading everything` };
    }
    if (manifest.unprotected.verify_state?.state === "failed") continue;
    const mismatch = cryptMismatch(manifest, crypt);
    if (mismatch) return { previous: null, note: `previous snapshot ${what} ${mismatch}: no chunks are reused` };
    try {
      const reader = await store.snapshots.openReader(snap.ref);
      return { previous: { ref: snap.ref, manifest: reader.manifest, reader }, note: `previous snapshot ${what}` };
    } catch (err) {
      if (err instanceof LockedError) return { previous: null, note: `previous snapshot ${what} is being removed: uploading everything` };
      throw err;
    }
  }
  return { previous: null, note: candidates.length ? "no previous snapshot that verify has not marked failed" : "no previous snapshot" };
}

function cryptMismatch(manifest: Manifest, crypt: SessionCrypt): string | null {
  const encrypted = manifest.files.some((f) => f.crypt_mode === "encrypt");
  if (crypt.cryptMode === "none") return encrypted ? "is encrypted and this backup is not" : null;
  if (!encrypted) return "is not encrypted and this backup is";
  if (manifest.key_fingerprint !== crypt.keyFingerprint) return `was made with key ${manifest.key_fingerprint ?? "(none)"}, this backup uses ${crypt.keyFingerprint}`;
  return null;
}
