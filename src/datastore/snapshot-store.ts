/**
 * Snapshots as the backend holds them (docs/formats.md "Layout").
 *
 * Visibility rule: a snapshot exists iff its `index.json.blob` exists. Writers put files into
 * the final directory and write the manifest last (snapshot-writer.ts); listings skip
 * directories without a manifest; forget deletes the manifest first.
 *
 * Locks (lock.ts, lock-paths.ts): a writer holds its group (one backup per group) and its
 * snapshot exclusively; readers hold the snapshot shared; forget holds it exclusively;
 * changes of the manifest's unprotected part and of the protection marker hold the manifest
 * lock. Recovery settles a snapshot under a shared snapshot lock plus the manifest lock,
 * which no live writer, forget or update can be holding at that moment.
 */
import type { CatalogSnapshotInput, IndexFileInfo } from "./catalog/catalog.ts";
import { isIndexFilename } from "./chunk-index.ts";
import { sha256Hex } from "./digest.ts";
import { DatastoreError } from "./errors.ts";
import { GroupStore } from "./group-store.ts";
import { INDEX_HEADER_SIZE, parseIndexHeaderOnly } from "./index-format.ts";
import { type FileLock, tryLock } from "./lock.ts";
import { decodeManifest, encodeManifest, type Manifest, type VerifyState } from "./manifest.ts";
import { NamespaceStore } from "./namespace-store.ts";
import {
  describeGroup,
  describeSnapshot,
  formatNamespace,
  type GroupRef,
  groupKey,
  MANIFEST_FILENAME,
  parseBackupTime,
  parseContentKey,
  type SnapshotRef,
  snapshotKey,
  validateGroup,
  validateSnapshot,
} from "./snapshot-path.ts";
import { SnapshotReader } from "./snapshot-reader.ts";
import { SnapshotWriter } from "./snapshot-writer.ts";
import { StoreContext, type StoreContextOptions, withLocks } from "./store-context.ts";

export const PROTECTED_MARKER = ".protected";
const MANIFEST_LOCK_TIMEOUT_MS = 5000;

export interface SnapshotListing {
  ref: SnapshotRef;
  /** Has a manifest. Incomplete ones are only listed on request (a writer's or a crash's leftovers). */
  complete: boolean;
  protected: boolean;
  /** Last key segments, e.g. "root.pxar.didx". */
  files: string[];
}

export class SnapshotStore {
  readonly ctx: StoreContext;
  readonly namespaces: NamespaceStore;
  readonly groups: GroupStore;

  constructor(options: StoreContextOptions) {
    this.ctx = new StoreContext(options);
    this.namespaces = new NamespaceStore(this.ctx);
    this.groups = new GroupStore(this.ctx);
  }

  async list(group: GroupRef, options: { includeIncomplete?: boolean } = {}): Promise<SnapshotListing[]> {
    validateGroup(group);
    const byTime = new Map<string, SnapshotListing>();
    for await (const { key } of this.ctx.backend.list(`${groupKey(group)}/`)) {
      const parsed = parseContentKey(key);
      if (parsed?.kind !== "snapshot-file") continue;
      let entry = byTime.get(parsed.snapshot.time);
      if (!entry) byTime.set(parsed.snapshot.time, (entry = { ref: parsed.snapshot, complete: false, protected: false, files: [] }));
      entry.files.push(parsed.file);
      if (parsed.file === MANIFEST_FILENAME) entry.complete = true;
      if (parsed.file === PROTECTED_MARKER) entry.protected = true;
    }
    return [...byTime.values()]
      .filter((s) => s.complete || options.includeIncomplete)
      .sort((a, b) => parseBackupTime(a.ref.time) - parseBackupTime(b.ref.time));
  }

  /** The manifest and its stored bytes; DatastoreError when the snapshot does not exist. */
  async readManifest(snap: SnapshotRef): Promise<{ manifest: Manifest; raw: Uint8Array }> {
    validateSnapshot(snap);
    const key = `${snapshotKey(snap)}/${MANIFEST_FILENAME}`;
    let raw: Uint8Array;
    try {
      raw = await this.ctx.backend.get(key);
    } catch (err) {
      if ((err as Error).name === "NotFoundError") throw notFound(snap);
      throw err;
    }
    return { manifest: decodeManifest(raw, key), raw };
  }

  /** Opens a snapshot for reading under a shared lock; release() the reader when done. */
  async openReader(snap: SnapshotRef): Promise<SnapshotReader> {
    validateSnapshot(snap);
    this.ctx.guard.assert("read", `read ${describeSnapshot(snap)}`);
    const lock = await this.ctx.lockOrThrow(this.ctx.locks.snapshot(snap), "shared", "read", {
      what: `snapshot ${describeSnapshot(snap)}`,
      why: "it is being written or removed",
      hint: "try again later",
    });
    try {
      const { manifest } = await this.readManifest(snap);
      return new SnapshotReader(snap, manifest, this.ctx.backend, lock);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /**
   * Starts a new snapshot: locks the group (a second writer is refused) and the snapshot,
   * checks or sets the owner, refuses a time not newer than the group's last snapshot, and
   * removes leftovers of writers that died.
   */
  async begin(group: GroupRef, time: string, options: { owner: string; purpose?: string }): Promise<SnapshotWriter> {
    const ref: SnapshotRef = validateSnapshot({ ns: group.ns, type: group.type, id: group.id, time });
    this.ctx.guard.assert("write", `start a backup of ${describeGroup(ref)}`);
    if (!(await this.namespaces.exists(ref.ns))) {
      throw new DatastoreError(`namespace ${formatNamespace(ref.ns)} does not exist`, "create the namespace first", 2);
    }
    const purpose = options.purpose ?? "backup";
    const held: FileLock[] = [];
    // The writer's GC epoch starts before anything it could reuse is looked up (docs/formats.md §10).
    const writerEpoch = this.ctx.catalog?.registerWriter(`${purpose} ${describeSnapshot(ref)}`);
    try {
      held.push(
        await this.ctx.lockOrThrow(this.ctx.locks.group(ref), "exclusive", purpose, {
          what: `backup group ${describeGroup(ref)}`,
          why: "another backup of this group is running",
          hint: "wait for it to finish (ironcore-backup task list --state running)",
        }),
      );
      held.push(
        await this.ctx.lockOrThrow(this.ctx.locks.snapshot(ref), "exclusive", purpose, {
          what: `snapshot ${describeSnapshot(ref)}`,
          why: "a cleanup or recovery is working on it",
          hint: "try again in a moment",
        }),
      );
      await this.groups.claim(ref, options.owner);
      const existing = await this.list(ref, { includeIncomplete: true });
      const last = existing.filter((s) => s.complete).at(-1);
      if (last && parseBackupTime(last.ref.time) >= parseBackupTime(time)) {
        throw new DatastoreError(
          `backup time ${time} is not newer than the last snapshot ${last.ref.time} of ${describeGroup(ref)}`,
          "check the client's clock; each backup needs a later time than the previous one",
        );
      }
      this.ctx.catalog?.beginOp("snapshot", snapshotKey(ref));
      for (const leftover of existing.filter((s) => !s.complete)) {
        if (leftover.ref.time === time) await this.ctx.backend.delete(await this.ctx.keysUnder(`${snapshotKey(ref)}/`));
        else await this.removeIncomplete(leftover.ref);
      }
      const c = this.ctx;
      return new SnapshotWriter(ref, { backend: c.backend, chunks: c.chunks, catalog: c.catalog, guard: c.guard, locks: held, claimChunks: c.claimChunks, writerEpoch });
    } catch (err) {
      for (const lock of held.reverse()) lock.release();
      if (writerEpoch !== undefined) this.ctx.catalog?.unregisterWriter(writerEpoch);
      throw err;
    }
  }

  /** Removes a snapshot; refused while it is in use or protected. The manifest goes first. */
  async forget(snap: SnapshotRef): Promise<void> {
    validateSnapshot(snap);
    this.ctx.guard.assert("write", `forget ${describeSnapshot(snap)}`);
    this.ctx.makeRoom(); // on a full filesystem the lock and the pending-op row need a little
    const what = describeSnapshot(snap);
    const lock = await this.ctx.lockOrThrow(this.ctx.locks.snapshot(snap), "exclusive", "forget", {
      what: `snapshot ${what}`,
      why: "it is in use (a restore, verify or backup reads it)",
      hint: "try again when that task has finished",
    });
    const held = [lock];
    await withLocks(held, async () => {
      held.push(await this.lockManifest(snap));
      const prefix = `${snapshotKey(snap)}/`;
      const keys = await this.ctx.keysUnder(prefix);
      const manifestKey = prefix + MANIFEST_FILENAME;
      if (!keys.includes(manifestKey)) throw notFound(snap);
      if (keys.includes(prefix + PROTECTED_MARKER)) throw new DatastoreError(`snapshot ${what} is protected`, "remove the protection first, then forget it", 2);
      await this.ctx.tracked("snapshot", snapshotKey(snap), async () => {
        await this.ctx.backend.delete([manifestKey]);
        await this.ctx.backend.delete(keys.filter((k) => k !== manifestKey));
        this.ctx.catalog?.removeSnapshot(snap);
      });
    });
  }

  async isProtected(snap: SnapshotRef): Promise<boolean> {
    return (await this.ctx.backend.stat(`${snapshotKey(validateSnapshot(snap))}/${PROTECTED_MARKER}`)) !== null;
  }

  /** Protected snapshots are kept by prune and refused by forget. */
  async setProtected(snap: SnapshotRef, value: boolean): Promise<void> {
    validateSnapshot(snap);
    this.ctx.guard.assert("write", `${value ? "protect" : "unprotect"} ${describeSnapshot(snap)}`);
    await withLocks([await this.lockManifest(snap)], async () => {
      if (!(await this.ctx.backend.stat(`${snapshotKey(snap)}/${MANIFEST_FILENAME}`))) throw notFound(snap);
      await this.ctx.tracked("snapshot", snapshotKey(snap), async () => {
        const key = `${snapshotKey(snap)}/${PROTECTED_MARKER}`;
        if (value) await this.ctx.backend.put(key, new Uint8Array(0));
        else await this.ctx.backend.delete([key]);
        this.ctx.catalog?.setSnapshotProtected(snap, value);
      });
    });
  }

  /** Snapshot notes live in the manifest's unprotected part (not signed, editable without the key). */
  async setNotes(snap: SnapshotRef, notes: string | null): Promise<Manifest> {
    this.ctx.guard.assert("write", `set notes of ${describeSnapshot(snap)}`);
    return this.updateUnprotected(snap, (u) => {
      if (notes) u.notes = notes;
      else delete u.notes;
    });
  }

  async setVerifyState(snap: SnapshotRef, state: VerifyState): Promise<Manifest> {
    this.ctx.guard.assert("verify-write", `record the verify result of ${describeSnapshot(snap)}`);
    return this.updateUnprotected(snap, (u) => {
      u.verify_state = state;
    });
  }

  /** What the catalog records about a committed snapshot, read from the backend. */
  async summarize(snap: SnapshotRef): Promise<CatalogSnapshotInput> {
    const { manifest, raw } = await this.readManifest(snap);
    const indexes = new Map<string, IndexFileInfo>();
    for (const f of manifest.files) {
      if (!isIndexFilename(f.filename)) continue;
      const key = `${snapshotKey(snap)}/${f.filename}`;
      const backend = this.ctx.backend;
      const head = backend.getRange ? await backend.getRange(key, 0, INDEX_HEADER_SIZE) : await backend.get(key);
      const header = parseIndexHeaderOnly(head, key);
      indexes.set(f.filename, { logicalSize: header.size, chunkCount: header.chunkCount });
    }
    return { ref: snap, manifest, manifestCsum: sha256Hex(raw), protected: await this.isProtected(snap), indexes };
  }

  /** Deletes a snapshot directory without manifest (its writer died), unless a live writer holds it. */
  async removeIncomplete(snap: SnapshotRef): Promise<boolean> {
    const lock = await tryLock(this.ctx.locks.snapshot(snap), "exclusive", "cleanup");
    if (!lock) return false;
    return withLocks([lock], async () => {
      const prefix = `${snapshotKey(snap)}/`;
      const keys = await this.ctx.keysUnder(prefix);
      if (keys.includes(prefix + MANIFEST_FILENAME)) return false;
      await this.ctx.backend.delete(keys);
      return true;
    });
  }

  /**
   * Recovery: makes the catalog's row for `snap` match the backend after an operation on it
   * died half-way; deletes a dead writer's leftovers when `deleteLeftovers`. Returns "busy"
   * when a live operation holds the snapshot.
   */
  async settle(snap: SnapshotRef, options: { deleteLeftovers: boolean }): Promise<"present" | "absent" | "busy"> {
    const shared = await tryLock(this.ctx.locks.snapshot(snap), "shared", "recovery");
    if (!shared) return "busy";
    const manifestLock = await tryLock(this.ctx.locks.manifest(snap), "exclusive", "recovery");
    if (!manifestLock) {
      shared.release();
      return "busy";
    }
    return withLocks([shared, manifestLock], async () => {
      const catalog = this.ctx.catalog;
      const prefix = `${snapshotKey(snap)}/`;
      const keys = await this.ctx.keysUnder(prefix);
      let outcome: "present" | "absent" = "absent";
      if (keys.includes(prefix + MANIFEST_FILENAME)) {
        try {
          catalog?.putSnapshot(await this.summarize(snap));
          outcome = "present";
        } catch {
          catalog?.removeSnapshot(snap); // unreadable manifest: reindex warns, verify reports it
        }
      } else {
        catalog?.removeSnapshot(snap);
        if (options.deleteLeftovers) await this.ctx.backend.delete(keys);
      }
      catalog?.endOp("snapshot", snapshotKey(snap));
      return outcome;
    });
  }

  private async updateUnprotected(snap: SnapshotRef, change: (u: Manifest["unprotected"]) => void): Promise<Manifest> {
    validateSnapshot(snap);
    return withLocks([await this.lockManifest(snap)], async () => {
      const { manifest } = await this.readManifest(snap);
      change(manifest.unprotected);
      const bytes = encodeManifest(manifest);
      await this.ctx.tracked("snapshot", snapshotKey(snap), async () => {
        await this.ctx.backend.put(`${snapshotKey(snap)}/${MANIFEST_FILENAME}`, bytes); // atomic replace
        this.ctx.catalog?.updateUnprotected(snap, manifest, sha256Hex(bytes));
      });
      return manifest;
    });
  }

  private lockManifest(snap: SnapshotRef): Promise<FileLock> {
    return this.ctx.lockOrThrow(this.ctx.locks.manifest(snap), "exclusive", "manifest update", {
      what: `manifest of ${describeSnapshot(snap)}`,
      why: `still busy after ${MANIFEST_LOCK_TIMEOUT_MS / 1000} s`,
      hint: "another update of this snapshot is running; try again later",
      timeoutMs: MANIFEST_LOCK_TIMEOUT_MS,
    });
  }
}

function notFound(snap: SnapshotRef): DatastoreError {
  return new DatastoreError(`snapshot ${describeSnapshot(snap)} does not exist`, "list the group's snapshots to see which exist", 2);
}
