/**
 * `POST /backup`: every check that can refuse a backup runs before anything is locked or
 * written (crypt mode and key, datastore mode, namespace, owner), then the session waits for a
 * worker slot as task `backup`, locks the group and the base snapshot, and is registered.
 * The route has already checked `Datastore.Backup` on the namespace.
 */
import { hasPrivilege } from "../access/permissions.ts";
import type { Datastore } from "../datastore/datastore.ts";
import { LockedError } from "../datastore/errors.ts";
import type { Manifest } from "../datastore/manifest.ts";
import {
  type BackupType,
  describeGroup,
  formatBackupTime,
  formatNamespace,
  type GroupRef,
  parseBackupTime,
  parseNamespace,
  validateBackupId,
} from "../datastore/snapshot-path.ts";
import type { SnapshotWriter } from "../datastore/snapshot-writer.ts";
import { RESERVE_BYTES } from "../datastore/space-reserve.ts";
import { assertUnencryptedAllowed } from "../keys-server/encryption-policy.ts";
import { assertKeyAccepted } from "../keys-server/registered-keys.ts";
import { errorMessage } from "../util/errors.ts";
import type { ServerDeps } from "./deps.ts";
import { badRequest, forbidden, notFound, SessionError, storeError } from "./errors.ts";
import { openStore } from "./open-store.ts";
import { datastoreAclPath, isGroupOwner } from "./ownership.ts";
import { openPrevious, type PreviousChoice } from "./previous.ts";
import { SessionRegistry, sessionRegistry } from "./session-registry.ts";
import { startSessionTask } from "./session-task.ts";
import { WriterSession } from "./writer-session.ts";

export interface BackupRequest {
  store: string;
  ns?: string;
  backupType: BackupType;
  backupId: string;
  /** RFC 3339 UTC; default: now. */
  backupTime?: string;
  cryptMode: "encrypt" | "none";
  keyFingerprint?: string;
}

export interface BackupStarted {
  session: string;
  upid: string;
  /** `type/id/time` */
  snapshot: string;
  previous: { time: string; manifest: Manifest } | null;
}

/**
 * `connection` is the start request's signal: a client that goes away before it has the answer
 * never learns the session id, so the session is aborted at once instead of at the timeout.
 */
export async function startBackup(deps: ServerDeps, authId: string, req: BackupRequest, connection?: AbortSignal): Promise<BackupStarted> {
  const ns = parseNamespace(req.ns ?? "");
  const group: GroupRef = { ns, type: req.backupType, id: validateBackupId(req.backupId) };
  const time = req.backupTime ?? formatBackupTime(Math.floor(Date.now() / 1000));
  parseBackupTime(time);
  const keyFingerprint = checkCrypt(deps, req);

  const store = await openStore(deps.db, req.store);
  let writer: SnapshotWriter | null = null;
  let choice: PreviousChoice | null = null;
  try {
    try {
      store.assert("write", `start a backup of ${describeGroup(group)}`);
    } catch (err) {
      throw storeError(err, store, describeGroup(group));
    }
    refuseWhenFull(store, group);
    if (!(await store.namespaces.exists(ns))) {
      throw notFound(`namespace '${formatNamespace(ns)}' does not exist in datastore ${store.name}`, "not_found", "an administrator creates it: ironcore-backup datastore namespace create");
    }
    const owner = await writeOwner(deps, store, group, authId);
    const what = `backup of ${describeGroup(group)} to datastore ${store.name}`;
    const registry = sessionRegistry(deps);
    const id = SessionRegistry.newId();
    let session: WriterSession | null = null;
    const task = await startSessionTask(
      deps,
      {
        type: "backup",
        workerId: `${store.name}:${ns.length ? formatNamespace(ns) + ":" : ""}${group.type}/${group.id}`,
        authId,
        needsSlot: true,
        params: { store: store.name, ns: formatNamespace(ns), snapshot: `${group.type}/${group.id}/${time}`, cryptMode: req.cryptMode, keyFingerprint },
      },
      what,
      (reason) => void session?.abort(errorMessage(reason)),
    );
    try {
      writer = await beginSnapshot(store, group, time, owner, registry);
      choice = await openPrevious(store, group, time, { cryptMode: req.cryptMode, keyFingerprint });
    } catch (err) {
      const mapped = storeError(err, store, describeGroup(group));
      await writer?.abort().catch(() => {});
      await task.end(new Error(errorMessage(mapped)));
      throw mapped;
    }
    task.ctx.log(
      `${what}: snapshot ${time}, crypt mode ${req.cryptMode}${keyFingerprint ? `, key ${keyFingerprint}` : ""}, owner ${owner}; ${choice.note}`,
    );
    session = new WriterSession({ id, authId, store, writer, previous: choice.previous, task, registry, log: deps.log, cryptMode: req.cryptMode, keyFingerprint });
    registry.add(session);
    if (task.ctx.signal.aborted) void session.abort(errorMessage(task.ctx.signal.reason)); // aborted while it started
    else if (connection?.aborted) void session.abort("the client's connection closed before it got the session: nothing was committed");
    deps.log.info("backup session started", { upid: task.upid, datastore: store.name, ns: formatNamespace(ns), snapshot: session.snapshotName });
    const prev = choice.previous;
    return { session: id, upid: task.upid, snapshot: session.snapshotName, previous: prev ? { time: prev.ref.time, manifest: prev.manifest } : null };
  } catch (err) {
    choice?.previous?.reader.release();
    store.close();
    throw err;
  }
}

/**
 * A store whose cleanup reserve (space-reserve.ts) is given back and cannot be taken again takes
 * no backup (the open has just tried to take it: admin/open.ts, keepSpaceReserve).
 */
function refuseWhenFull(store: Datastore, group: GroupRef): void {
  if (!store.reserve.exhausted) return;
  throw new SessionError(
    `datastore ${store.name} is full (its ${RESERVE_BYTES / 2 ** 20} MiB cleanup reserve is in use and there is no room to set it aside again): refusing to start a backup of ${describeGroup(group)}`,
    507,
    "insufficient_storage",
    `forget or prune old snapshots, then ironcore-backup gc start ${store.name} (or extend its filesystem); the reserve is taken again once there is room`,
  );
}

/**
 * Begins the snapshot. When the group is locked and a session of a client that is gone is still
 * ending (session-registry.ts, watches), waits for that (up to 10 s) and tries once more: a
 * backup right after its killed predecessor should not be told the group is busy.
 */
async function beginSnapshot(store: Datastore, group: GroupRef, time: string, owner: string, registry: SessionRegistry): Promise<SnapshotWriter> {
  const begin = () => store.snapshots.begin(group, time, { owner, purpose: "backup" });
  try {
    return await begin();
  } catch (err) {
    if (!(err instanceof LockedError) || !registry.hasLost) throw err;
    await registry.settled();
    return await begin();
  }
}

/** Crypt mode and key: the fingerprint (normalised) of an encrypted backup, null otherwise. */
function checkCrypt(deps: ServerDeps, req: BackupRequest): string | null {
  if (req.cryptMode === "encrypt") {
    if (!req.keyFingerprint) throw badRequest("an encrypted backup (cryptMode encrypt) must name its key fingerprint (keyFingerprint)", "invalid_request");
    return assertKeyAccepted(deps.db, req.keyFingerprint);
  }
  if (req.keyFingerprint) throw badRequest("keyFingerprint is only for encrypted backups (cryptMode encrypt)", "invalid_request");
  assertUnencryptedAllowed(deps.db, req.store);
  return null;
}

/**
 * The owner to write the group as: the caller for a new group; the existing owner when the
 * caller owns it (or is the user of the owning token) or holds Datastore.Modify there.
 */
async function writeOwner(deps: ServerDeps, store: Datastore, group: GroupRef, authId: string): Promise<string> {
  const current = await store.groups.getOwner(group);
  if (current === null || current === authId) return authId;
  if (isGroupOwner(current, authId) || hasPrivilege(deps.db, authId, datastoreAclPath(store.name, group.ns), "Datastore.Modify")) return current;
  throw forbidden(
    `backup group ${describeGroup(group)} in datastore ${store.name} belongs to '${current}'; '${authId}' may not add snapshots to it`,
    "not_owner",
    "back up into a group you own (another backup id), or an administrator changes the owner or grants Datastore.Modify",
  );
}
