/**
 * `datastore create`: prepares a directory as a datastore and registers it, or (with
 * `reuse`) adopts a directory that already holds an IBS datastore, e.g. a disk moved from
 * another node or a store whose registration was removed.
 *
 * A new datastore gets `.ibs/datastore.json` (format version, id, mode online),
 * `.ibs/catalog.db`, `.ibs/locks/` and the chunk directory `.chunks/`. The 4-hex prefix
 * directories below `.chunks/` are made when first needed (docs/formats.md §1), not up front
 * as PBS does: 65 536 empty directories cost an inode each and minutes on slow disks.
 *
 * The directory must be empty; `lost+found` alone is accepted, because that is what a freshly
 * made ext4 filesystem holds at its mount point.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { StateDb } from "../../state/db.ts";
import { errorMessage } from "../../util/errors.ts";
import { CONFIG_KEY, newDatastoreConfig, writeDatastoreConfig } from "../datastore-config.ts";
import { Datastore } from "../datastore.ts";
import { conflict, DatastoreAdminError, invalid } from "./errors.ts";
import { describeFsError } from "./fs-errors.ts";
import { mountOf } from "./mounts.ts";
import { normalizeDatastorePath, pathsNest, physicalPath, validateDatastoreName } from "./names.ts";
import { readStoreConfig } from "./open.ts";
import { findDatastore, insertDatastore, listDatastores, type RegisteredDatastore } from "./registry.ts";
import { createS3Datastore, type S3CreateInput } from "./s3-create.ts";

export interface CreateDatastoreInput {
  name: string;
  path: string;
  comment?: string | null;
  /** Adopt the IBS datastore that already exists at `path` instead of creating one. */
  reuse?: boolean;
  /** Default 'local'. For 's3', `path` is the local directory (`.ibs/`, chunk cache) and `s3` says where the content goes. */
  backend?: "local" | "s3";
  s3?: S3CreateInput;
}

export interface CreateDatastoreResult {
  datastore: RegisteredDatastore;
  /** False when an existing datastore was adopted (`reuse`). */
  created: boolean;
  /** Things the admin should know, e.g. that the store sits on the root filesystem. */
  warnings: string[];
}

/** Entries a fresh filesystem puts at its root; a directory holding only these counts as empty. */
const FRESH_FS_ENTRIES = new Set(["lost+found"]);

export async function createDatastore(db: StateDb, input: CreateDatastoreInput): Promise<CreateDatastoreResult> {
  const name = validateDatastoreName(input.name);
  const path = normalizeDatastorePath(input.path);
  const comment = input.comment?.trim() || null;
  if (comment && /[\u0000-\u001f\u007f]/.test(comment)) throw invalid("comment: control characters (newlines, tabs) are not allowed");
  checkRegistry(db, name, path);
  checkNotInsideUnregisteredStore(path);
  if (input.backend === "s3") {
    if (!input.s3) throw invalid("an S3 datastore needs an endpoint and a bucket", "add --s3-endpoint NAME --bucket BUCKET");
    if (input.reuse) throw invalid("--reuse is for local datastores; an S3 datastore is created on a free prefix", "choose another --prefix, or remove the other datastore first");
    const { datastore } = await createS3Datastore(db, { name, path, comment }, input.s3);
    return { datastore, created: true, warnings: [] };
  }
  if (input.backend !== undefined && input.backend !== "local") throw invalid(`unknown backend '${input.backend}' (known: local, s3)`);

  const existing = readStoreConfig(path);
  let created = false;
  let storeId: string;
  let undo: () => void = () => {};
  if (existing) {
    if (!input.reuse) {
      throw conflict(`${path} already holds an IBS datastore (id ${existing.id})`, `to adopt it as '${name}', add --reuse; to start afresh, choose another directory`);
    }
    const owner = listDatastores(db).find((d) => d.storeId === existing.id);
    if (owner) throw conflict(`the datastore at ${path} (id ${existing.id}) is already registered as '${owner.name}' at ${owner.path}`);
    // readStoreConfig already refused a newer format version. The store is not opened here, so
    // a disk mounted read-only (an archive for restores) can be adopted too.
    storeId = existing.id;
  } else {
    if (input.reuse) throw invalid(`nothing to reuse: ${path} holds no IBS datastore (no ${CONFIG_KEY})`, "leave out --reuse to create a new datastore there");
    ({ storeId, undo } = await prepareDirectory(path, name));
    created = true;
  }

  let datastore: RegisteredDatastore;
  try {
    datastore = insertDatastore(db, { name, path, backend: "local", storeId, comment });
  } catch (err) {
    undo();
    if (/UNIQUE|constraint/i.test(errorMessage(err))) {
      throw conflict(`datastore '${name}' or path ${path} was registered by someone else meanwhile`, "see: ironcore-backup datastore list");
    }
    throw err;
  }
  return { datastore, created, warnings: placementWarnings(path) };
}

function checkRegistry(db: StateDb, name: string, path: string): void {
  if (findDatastore(db, name)) throw conflict(`datastore '${name}' already exists`, "choose another name, or see: ironcore-backup datastore show " + name);
  const physical = physicalPath(path);
  for (const other of listDatastores(db)) {
    const otherPhysical = physicalPath(other.path);
    if (other.path === path || otherPhysical === physical) {
      throw conflict(`${path} is already the path of datastore '${other.name}'`);
    }
    if (pathsNest(path, other.path) || pathsNest(physical, otherPhysical)) {
      throw conflict(
        `${path} nests with datastore '${other.name}' at ${other.path}`,
        "datastores must not contain each other (one store's listing and GC would walk into the other's files): choose a separate directory",
      );
    }
  }
}

/** An IBS datastore that is not registered (yet) also must not get another store inside it. */
function checkNotInsideUnregisteredStore(path: string): void {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if (existsSync(join(dir, CONFIG_KEY))) {
      throw conflict(`${path} lies inside the IBS datastore at ${dir}`, "datastores must not contain each other: choose a separate directory");
    }
    if (dirname(dir) === dir) return;
  }
}

async function prepareDirectory(path: string, name: string): Promise<{ storeId: string; undo: () => void }> {
  const fail = (what: string, err: unknown): never => {
    const p = describeFsError(err);
    throw new DatastoreAdminError(`cannot ${what}: ${p.text}`, p.cause === "permission-denied" || p.cause === "read-only" || p.cause === "no-space" ? 409 : 500, "fs_error", "check the directory with: ironcore-backup datastore probe " + path);
  };
  const rootExisted = existsSync(path);
  if (rootExisted) {
    let entries: string[];
    try {
      if (!statSync(path).isDirectory()) throw invalid(`${path} is not a directory`);
      entries = readdirSync(path);
    } catch (err) {
      if (err instanceof DatastoreAdminError) throw err;
      return fail(`read ${path}`, err);
    }
    const foreign = entries.filter((e) => !FRESH_FS_ENTRIES.has(e));
    if (foreign.length > 0) {
      const shown = foreign.slice(0, 3).join(", ") + (foreign.length > 3 ? `, … (${foreign.length} entries)` : "");
      throw invalid(`cannot create a datastore in ${path}: the directory is not empty (holds ${shown})`, "choose an empty directory");
    }
  }
  const made = [".ibs", ".chunks"].map((e) => join(path, e));
  const undo = () => {
    try {
      if (rootExisted) for (const p of made) rmSync(p, { recursive: true, force: true });
      else rmSync(path, { recursive: true, force: true });
    } catch {
      // best effort: the error that made us undo is the one to report
    }
  };
  try {
    mkdirSync(join(path, ".ibs", "locks"), { recursive: true });
    mkdirSync(join(path, ".chunks"), { mode: 0o750 });
  } catch (err) {
    undo();
    return fail(`create ${path}`, err);
  }
  const config = newDatastoreConfig();
  try {
    await writeDatastoreConfig(path, config);
    await Datastore.initializeEmpty(path, { name }); // creates and migrates .ibs/catalog.db
  } catch (err) {
    undo();
    if (err instanceof DatastoreAdminError) throw err;
    if ((err as NodeJS.ErrnoException).code) return fail(`initialise ${path}`, err);
    throw err;
  }
  return { storeId: config.id, undo };
}

/** Warnings about where the store sits, shared with `probe`'s mount check. */
export function placementWarnings(path: string): string[] {
  const mount = mountOf(physicalPath(path));
  if (mount && mount.mountPoint === "/") {
    return [
      `${path} is on the root filesystem (${mount.fsType} on ${mount.source}): a growing datastore can fill the system disk, and a backup disk that failed to mount goes unnoticed; prefer a dedicated mount`,
    ];
  }
  return [];
}
