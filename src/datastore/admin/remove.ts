/**
 * `datastore remove`: unregisters a datastore; with `destroyData` also deletes its content.
 *
 * Refused while the store is in use (queued or running tasks, live lock holders; see
 * in-use.ts) or named by scheduled jobs. Destroying data is refused while the store is
 * quarantined (that data is evidence until the root cause is known) and when the directory
 * holds a different datastore than the one registered (a wrong disk must never be wiped).
 * Before deleting, the store is set offline so nothing new starts on it; `.ibs/` goes last,
 * so an interrupted destroy can simply be run again. Entries that are not IBS's stay.
 */
import { existsSync, readdirSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { StateDb } from "../../state/db.ts";
import { errorMessage } from "../../util/errors.ts";
import type { DatastoreMode } from "../datastore-config.ts";
import { Datastore } from "../datastore.ts";
import { BACKUP_TYPES } from "../snapshot-path.ts";
import { conflict, DatastoreAdminError } from "./errors.ts";
import { describeFsError } from "./fs-errors.ts";
import { describeUsers, storeJobs, storeUsers } from "./in-use.ts";
import { mountOf } from "./mounts.ts";
import { physicalPath } from "./names.ts";
import { checkRegisteredStore } from "./open.ts";
import { s3BackendOf } from "./s3-backend.ts";
import { S3_MARKER_KEY } from "../../s3/marker.ts";
import { deleteDatastore, requireDatastore, type RegisteredDatastore } from "./registry.ts";

export interface RemoveDatastoreOptions {
  destroyData?: boolean;
}

export interface RemoveDatastoreResult {
  name: string;
  path: string;
  /** True when the content was deleted. */
  destroyed: boolean;
  /** Entries in the directory that are not IBS's and were left alone. */
  leftovers: string[];
}

/** What a datastore consists of, in deletion order (`.ibs` with its config last). */
const STORE_ENTRIES = [".chunks", "ns", ...BACKUP_TYPES, ".ibs"];

export async function removeDatastore(db: StateDb, name: string, opts: RemoveDatastoreOptions = {}): Promise<RemoveDatastoreResult> {
  const entry = requireDatastore(db, name);
  await refuseWhileUsed(db, entry);
  const jobs = storeJobs(db, name);
  if (jobs.length > 0) {
    throw conflict(`datastore ${name} is used by scheduled job${jobs.length > 1 ? "s" : ""} ${jobs.join(", ")}`, "remove them first: ironcore-backup job remove <id>");
  }
  if (!opts.destroyData) {
    deleteDatastore(db, name);
    return { name, path: entry.path, destroyed: false, leftovers: [] };
  }
  if (!existsSync(entry.path)) {
    deleteDatastore(db, name); // nothing left to destroy
    return { name, path: entry.path, destroyed: false, leftovers: [] };
  }
  const config = checkRegisteredStore(entry);
  if (config.mode === "quarantined") {
    throw conflict(
      `datastore ${name} is quarantined (reason: ${config.mode_reason ?? "none given"}): refusing to destroy its data`,
      `keep it until the root cause is established; then: ironcore-backup datastore release ${name}`,
    );
  }
  await setModeOf(entry, "offline", "being removed");
  try {
    await refuseWhileUsed(db, entry); // someone may have started between the first check and offline
  } catch (err) {
    await setModeOf(entry, config.mode, config.mode_reason);
    throw err;
  }
  if (entry.backend === "s3") await destroyS3Content(entry);
  const leftovers = destroyContent(entry.path);
  deleteDatastore(db, name);
  return { name, path: entry.path, destroyed: true, leftovers };
}

/** Deletes every object under the store's prefix, the marker last (until then the prefix stays claimed). */
async function destroyS3Content(entry: RegisteredDatastore): Promise<void> {
  const backend = await s3BackendOf(entry);
  let batch: string[] = [];
  for await (const o of backend.list("")) {
    if (o.key === S3_MARKER_KEY) continue;
    batch.push(o.key);
    if (batch.length === 1000) {
      await backend.delete(batch);
      batch = [];
    }
  }
  await backend.delete([...batch, S3_MARKER_KEY]);
}

async function setModeOf(entry: RegisteredDatastore, mode: DatastoreMode, reason?: string): Promise<void> {
  const store = await Datastore.open(entry.path, { name: entry.name, recover: false });
  try {
    await store.setMode(mode, reason);
  } finally {
    store.close();
  }
}

async function refuseWhileUsed(db: StateDb, entry: RegisteredDatastore): Promise<void> {
  const users = await storeUsers(db, entry.name, entry.path);
  if (users.tasks.length + users.locks.length > 0) {
    throw conflict(`datastore ${entry.name} is in use: ${describeUsers(users)}`, "wait for these to finish, or abort the tasks (ironcore-backup task abort <UPID>), then try again");
  }
}

function destroyContent(path: string): string[] {
  for (const name of STORE_ENTRIES) {
    try {
      rmSync(join(path, name), { recursive: true, force: true });
    } catch (err) {
      const p = describeFsError(err);
      throw new DatastoreAdminError(`cannot delete ${join(path, name)}: ${p.text}`, 500, "fs_error", `fix the cause and run the remove again (${errorMessage(err)})`);
    }
  }
  const leftovers = readdirSync(path).filter((e) => e !== "lost+found");
  const mount = mountOf(physicalPath(path));
  const isMountPoint = mount?.mountPoint === physicalPath(path);
  // Keep a mount point (removing it would break the fstab entry) and anything that is not ours.
  if (leftovers.length === 0 && !isMountPoint && readdirSync(path).length === 0) {
    try {
      rmdirSync(path);
    } catch {
      // the directory itself is harmless to keep
    }
  }
  return leftovers;
}
