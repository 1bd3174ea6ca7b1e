/**
 * Snapshot management for the API (docs/protocol.md "Snapshot management"): list groups and
 * snapshots, forget, protect, notes. Listings come from the datastore's catalog; changes go
 * through the datastore library (locks, manifest rewrite, catalog in step).
 *
 * Who may do what (PBS's rules): listing needs Datastore.Audit on the namespace, or
 * Datastore.Backup there, which shows only the caller's own groups; forget needs
 * Datastore.Prune, protection and notes changes Datastore.Modify, reading notes
 * Datastore.Audit, each also allowed to the group's owner holding Datastore.Backup.
 */
import type { Privilege } from "../access/privileges.ts";
import type { Datastore } from "../datastore/datastore.ts";
import { DatastoreError } from "../datastore/errors.ts";
import type { Manifest } from "../datastore/manifest.ts";
import { type BackupType, describeSnapshot, formatNamespace, type GroupRef, groupKey, parseNamespace, type SnapshotRef, validateBackupId, validateSnapshot } from "../datastore/snapshot-path.ts";
import type { ServerDeps } from "./deps.ts";
import { conflict, notFound, storeError } from "./errors.ts";
import { withStore } from "./open-store.ts";
import { datastoreAclPath, isGroupOwner, privOrOwnGroups, requirePrivOrOwner } from "./ownership.ts";

export interface GroupInfo {
  ns: string;
  type: BackupType;
  id: string;
  owner: string | null;
  snapshotCount: number;
  lastBackup: string | null;
  /** First line of the group's notes. */
  comment: string | null;
}

export interface SnapshotInfo {
  ns: string;
  type: BackupType;
  id: string;
  time: string;
  /** `type/id/time`, what reader sessions and these routes take. */
  snapshot: string;
  owner: string | null;
  protected: boolean;
  verifyState: "ok" | "failed" | null;
  cryptMode: string;
  /** Bytes of the snapshot's own files (indexes, blobs; not the chunks they reference). */
  size: number;
  /** Bytes the indexes and blobs describe, before dedup and compression. */
  logicalSize: number;
  fileCount: number;
  /** First line of the snapshot's notes. */
  comment: string | null;
}

export interface SnapshotLocation {
  store: string;
  ns?: string;
  type: BackupType;
  id: string;
  time: string;
}

const firstLine = (text: string | null | undefined) => (text ? (text.split("\n")[0] ?? "").trim() || null : null);

export async function listGroups(deps: ServerDeps, authId: string, storeName: string, nsText = ""): Promise<GroupInfo[]> {
  const ns = parseNamespace(nsText);
  const access = privOrOwnGroups(deps.db, authId, datastoreAclPath(storeName, ns), "Datastore.Audit");
  return withStore(deps.db, storeName, async (store) => {
    assertReadable(store, "list backup groups");
    return store.catalog
      .listGroups(ns)
      .filter((g) => access.full || isGroupOwner(g.owner, authId))
      .map((g) => ({ ns: formatNamespace(g.ns), type: g.type, id: g.id, owner: g.owner, snapshotCount: g.snapshotCount, lastBackup: g.lastBackup, comment: firstLine(g.notes) }));
  });
}

export async function listSnapshots(deps: ServerDeps, authId: string, storeName: string, filter: { ns?: string; type?: BackupType; id?: string }): Promise<SnapshotInfo[]> {
  const ns = parseNamespace(filter.ns ?? "");
  const access = privOrOwnGroups(deps.db, authId, datastoreAclPath(storeName, ns), "Datastore.Audit");
  if (filter.id !== undefined) validateBackupId(filter.id);
  return withStore(deps.db, storeName, async (store) => {
    assertReadable(store, "list snapshots");
    const owners = new Map(store.catalog.listGroups(ns).map((g) => [groupKey(g), g.owner]));
    const group = filter.type && filter.id ? { ns, type: filter.type, id: filter.id } : undefined;
    return store.catalog
      .listSnapshots(group ? { group } : { ns })
      .filter((s) => (!filter.type || s.type === filter.type) && (!filter.id || s.id === filter.id))
      .map((s) => ({ s, owner: owners.get(groupKey(s)) ?? null }))
      .filter(({ owner }) => access.full || isGroupOwner(owner, authId))
      .map(({ s, owner }) => ({
        ns: formatNamespace(s.ns),
        type: s.type,
        id: s.id,
        time: s.time,
        snapshot: `${s.type}/${s.id}/${s.time}`,
        owner,
        protected: s.protected,
        verifyState: s.verifyState,
        cryptMode: s.cryptMode,
        size: s.storedBytes,
        logicalSize: s.logicalBytes,
        fileCount: s.fileCount,
        comment: firstLine(s.notes),
      }));
  });
}

export async function forgetSnapshot(deps: ServerDeps, authId: string, loc: SnapshotLocation): Promise<{ forgotten: string }> {
  return onSnapshot(deps, authId, loc, "Datastore.Prune", async (store, ref) => {
    if (await store.snapshots.isProtected(ref)) {
      throw conflict(`snapshot ${describeSnapshot(ref)} is protected`, "protected", "remove the protection first, then forget it");
    }
    await store.snapshots.forget(ref);
    deps.log.info("snapshot forgotten", { datastore: store.name, ns: formatNamespace(ref.ns), snapshot: `${ref.type}/${ref.id}/${ref.time}`, by: authId });
    return { forgotten: `${ref.type}/${ref.id}/${ref.time}` };
  });
}

export async function setSnapshotProtected(deps: ServerDeps, authId: string, loc: SnapshotLocation, value: boolean): Promise<{ snapshot: string; protected: boolean }> {
  return onSnapshot(deps, authId, loc, "Datastore.Modify", async (store, ref) => {
    await store.snapshots.setProtected(ref, value);
    return { snapshot: `${ref.type}/${ref.id}/${ref.time}`, protected: await store.snapshots.isProtected(ref) };
  });
}

export async function getSnapshotNotes(deps: ServerDeps, authId: string, loc: SnapshotLocation): Promise<{ snapshot: string; notes: string | null }> {
  return onSnapshot(deps, authId, loc, "Datastore.Audit", async (_store, ref, manifest) => ({ snapshot: `${ref.type}/${ref.id}/${ref.time}`, notes: manifest.unprotected.notes ?? null }), "read");
}

export async function setSnapshotNotes(deps: ServerDeps, authId: string, loc: SnapshotLocation, notes: string | null): Promise<{ snapshot: string; notes: string | null }> {
  return onSnapshot(deps, authId, loc, "Datastore.Modify", async (store, ref) => {
    const m = await store.snapshots.setNotes(ref, notes);
    return { snapshot: `${ref.type}/${ref.id}/${ref.time}`, notes: m.unprotected.notes ?? null };
  });
}

/**
 * Checks access (the privilege, or Backup as owner: decided before existence, so a refusal
 * does not tell whether the snapshot exists), then that the snapshot exists, then runs `fn`.
 */
async function onSnapshot<T>(
  deps: ServerDeps,
  authId: string,
  loc: SnapshotLocation,
  priv: Privilege,
  fn: (store: Datastore, ref: SnapshotRef, manifest: Manifest) => Promise<T>,
  op: "read" | "write" = "write",
): Promise<T> {
  const ns = parseNamespace(loc.ns ?? "");
  const ref = validateSnapshot({ ns, type: loc.type, id: loc.id, time: loc.time });
  const group: GroupRef = { ns, type: ref.type, id: ref.id };
  return withStore(deps.db, loc.store, async (store) => {
    await requirePrivOrOwner(deps.db, authId, datastoreAclPath(loc.store, ns), priv, () => store.groups.getOwner(group));
    try {
      if (op === "read") assertReadable(store, `read ${describeSnapshot(ref)}`);
      else store.assert("write", `change ${describeSnapshot(ref)}`);
      let manifest: Manifest;
      try {
        manifest = (await store.snapshots.readManifest(ref)).manifest;
      } catch (err) {
        if (err instanceof DatastoreError && err.exitCode === 2 && /does not exist/.test(err.message)) throw notFound(err.message, "not_found", err.hint);
        throw err;
      }
      return await fn(store, ref, manifest);
    } catch (err) {
      throw storeError(err, store, describeSnapshot(ref));
    }
  });
}

function assertReadable(store: Datastore, what: string): void {
  try {
    store.assert("read", what);
  } catch (err) {
    throw storeError(err, store, what);
  }
}
