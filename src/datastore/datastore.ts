/**
 * A datastore: a directory (the local backend's root, or the local side of an S3 store) with
 * `.ibs/datastore.json` (identity, format, mode), `.ibs/catalog.db` and `.ibs/locks/`, and the
 * content reached through a Backend. This class ties chunk store, snapshot store and catalog
 * together and enforces the mode:
 *
 *   mode         read  write  verify-write
 *   online       yes   yes    yes
 *   read-only    yes   no     yes
 *   offline      no    no     no
 *   quarantined  yes   no     yes     (no new backups, no GC; verify and restore still work)
 *
 * The mode is re-read when datastore.json changes, so a mode set by the CLI takes effect in
 * running roles at their next operation.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statfsSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { AccessGuard, OperationClass } from "./access.ts";
import type { Backend } from "./backends/backend.ts";
import { LocalBackend } from "./backends/local.ts";
import { Catalog, type CatalogStats } from "./catalog/catalog.ts";
import { type RecoveryResult, recoverCatalog } from "./catalog/recovery.ts";
import { type ReindexResult, reindexCatalog } from "./catalog/reindex.ts";
import { type ChunkInsertOptions, type ChunkInsertResult, type ChunkReadOptions, chunkName, ChunkStore } from "./chunk-store.ts";
import { CONFIG_KEY, type DatastoreConfig, type DatastoreMode, DATASTORE_MODES, newDatastoreConfig, parseDatastoreConfig, writeDatastoreConfig } from "./datastore-config.ts";
import { DatastoreError, ModeError } from "./errors.ts";
import { describeHolder, lockWithTimeout, REINDEX_LOCK_PURPOSE, tryLock } from "./lock.ts";
import { LockPaths } from "./lock-paths.ts";
import type { GroupStore } from "./group-store.ts";
import type { NamespaceStore } from "./namespace-store.ts";
import { SnapshotStore } from "./snapshot-store.ts";
import { SpaceReserve } from "./space-reserve.ts";

/** How long a chunk write waits for a GC batch that is deleting the same chunk. */
const CONDEMNED_WAIT_MS = 120_000;
/** How long an open waits for another process that rebuilds a lost catalog (a large store lists for minutes). */
const CATALOG_REBUILD_WAIT_MS = 30 * 60_000;

export interface DatastoreOptions {
  /** Name used in messages (default: the directory's name). */
  name?: string;
  /** Where content lives; default a LocalBackend rooted at the directory. */
  backend?: Backend;
  /** Run crash recovery on open (default true). */
  recover?: boolean;
  /**
   * Rebuild the catalog from the files when it does not describe them (lost and opened anew,
   * or older than the mark: Catalog.builtFromFiles), instead of listing an empty store. Only
   * with the store's real backend (an S3 store's is not the local directory). Default false.
   */
  rebuildLostCatalog?: boolean;
  /** Take the cleanup reserve (space-reserve.ts) when it is missing and there is room. Default false. */
  keepSpaceReserve?: boolean;
}

export interface DatastoreStats extends CatalogStats {
  /** Filesystem figures of the datastore directory (for S3 stores: of the local cache). */
  fs: { totalBytes: number; usedBytes: number; availableBytes: number; inodesTotal: number; inodesFree: number };
  /** logicalBytes / chunkBytes; 0 when nothing is stored. */
  dedupFactor: number;
}

export class Datastore implements AccessGuard {
  readonly dir: string;
  readonly name: string;
  readonly backend: Backend;
  readonly catalog: Catalog;
  readonly chunks: ChunkStore;
  readonly snapshots: SnapshotStore;
  readonly namespaces: NamespaceStore;
  readonly groups: GroupStore;
  readonly locks: LockPaths;
  /** Room kept free for forget, prune and GC on a full filesystem. */
  readonly reserve: SpaceReserve;
  /** Set when open() found the catalog lost and rebuilt it from the files (rebuildLostCatalog). */
  rebuiltCatalog: ReindexResult | null = null;
  private cached: { config: DatastoreConfig; stamp: string };

  private constructor(dir: string, options: DatastoreOptions, config: DatastoreConfig, stamp: string) {
    this.dir = dir;
    this.name = options.name ?? basename(dir);
    this.cached = { config, stamp };
    this.backend = options.backend ?? new LocalBackend(dir);
    this.reserve = new SpaceReserve(dir);
    this.catalog = openCatalog(join(dir, ".ibs", "catalog.db"), this.reserve);
    this.chunks = new ChunkStore(this.backend);
    this.locks = new LockPaths(join(dir, ".ibs", "locks"));
    this.snapshots = new SnapshotStore({
      backend: this.backend,
      chunks: this.chunks,
      locks: this.locks,
      catalog: this.catalog,
      guard: this,
      claimChunks: (digests) => this.hasChunks(digests),
      makeRoom: () => this.reserve.releaseIfLow(),
    });
    this.namespaces = this.snapshots.namespaces;
    this.groups = this.snapshots.groups;
  }

  /** Creates a new datastore in an empty (or missing) directory. */
  static async create(dir: string, options: DatastoreOptions = {}): Promise<Datastore> {
    const root = resolve(dir);
    if (existsSync(join(root, CONFIG_KEY))) {
      throw new DatastoreError(`${root} already holds an IBS datastore`, "open it instead of creating it", 2);
    }
    if (existsSync(root) && readdirSync(root).length > 0) {
      throw new DatastoreError(`cannot create a datastore in ${root}: the directory is not empty`, "choose an empty directory", 2);
    }
    mkdirSync(join(root, ".ibs", "locks"), { recursive: true });
    await writeDatastoreConfig(root, newDatastoreConfig());
    const store = await Datastore.open(root, options);
    store.catalog.markBuiltFromFiles(); // an empty store: nothing to list
    return store;
  }

  /**
   * Creates the catalog of a new, empty store whose config is written (the admin `datastore
   * create`, local or S3): marked as describing the files, with the cleanup reserve set aside.
   */
  static async initializeEmpty(dir: string, options: DatastoreOptions = {}): Promise<void> {
    const store = await Datastore.open(dir, options);
    try {
      store.catalog.markBuiltFromFiles();
      store.reserve.ensure();
    } finally {
      store.close();
    }
  }

  static async open(dir: string, options: DatastoreOptions = {}): Promise<Datastore> {
    const root = resolve(dir);
    const configPath = join(root, CONFIG_KEY);
    if (!existsSync(configPath)) {
      throw new DatastoreError(`${root} is not an IBS datastore (no ${CONFIG_KEY})`, "check the path, or create a datastore there", 2);
    }
    const { config, stamp } = readConfig(configPath);
    const store = new Datastore(root, options, config, stamp);
    try {
      if (options.rebuildLostCatalog && config.mode !== "offline" && !store.catalog.builtFromFiles()) {
        store.rebuiltCatalog = await store.rebuildLostCatalog();
      }
      if (options.recover !== false && config.mode !== "offline") {
        await store.recover();
      }
      if (options.keepSpaceReserve && config.mode === "online") store.reserve.ensure(); // nothing is written to a store in another mode
    } catch (err) {
      store.close();
      throw err;
    }
    return store;
  }

  /**
   * Rebuilds a catalog that does not describe the files, under the GC lock as `datastore
   * reindex` does (a sweep must not delete chunks while they are listed). Processes that open
   * the store meanwhile wait here, then find it rebuilt. Returns null when another did it.
   */
  private async rebuildLostCatalog(): Promise<ReindexResult | null> {
    const lock = await lockWithTimeout(this.locks.gc(), "exclusive", REINDEX_LOCK_PURPOSE, CATALOG_REBUILD_WAIT_MS);
    if (!lock) {
      throw new DatastoreError(
        `datastore ${this.name}: its catalog must be rebuilt from the files, but ${describeHolder(this.locks.gc())} holds the datastore's GC lock`,
        `try again when it has finished; ironcore-backup datastore reindex ${this.name} rebuilds it as well`,
      );
    }
    try {
      if (this.catalog.builtFromFiles()) return null;
      return await this.reindex();
    } finally {
      lock.release();
    }
  }

  get config(): DatastoreConfig {
    const path = join(this.dir, CONFIG_KEY);
    const stamp = configStamp(path);
    if (stamp !== this.cached.stamp) this.cached = readConfig(path);
    return this.cached.config;
  }

  get id(): string {
    return this.config.id;
  }

  get mode(): DatastoreMode {
    return this.config.mode;
  }

  /** Changes the mode; `reason` is required for quarantine and shown in every refusal. */
  async setMode(mode: DatastoreMode, reason?: string): Promise<void> {
    if (!DATASTORE_MODES.includes(mode)) throw new DatastoreError(`unknown datastore mode '${mode}' (known: ${DATASTORE_MODES.join(", ")})`, undefined, 2);
    if (mode === "quarantined" && !reason) throw new DatastoreError("quarantine needs a reason, shown to everyone whose write is refused", undefined, 2);
    const next: DatastoreConfig = { ...this.config, mode, mode_since: new Date().toISOString() };
    if (reason) next.mode_reason = reason;
    else delete next.mode_reason;
    await writeDatastoreConfig(this.dir, next);
    this.cached = readConfig(join(this.dir, CONFIG_KEY));
  }

  assert(op: OperationClass, what: string): void {
    const { mode, mode_reason } = this.config;
    if (mode === "online") return;
    if (op !== "write" && (mode === "read-only" || mode === "quarantined")) return;
    const reason = mode_reason ? ` (reason: ${mode_reason})` : "";
    const allowed = mode === "quarantined" ? "; verify and restore still work" : mode === "read-only" ? "; reads still work" : "";
    throw new ModeError(`datastore ${this.name} is ${mode}${reason}: refusing to ${what}${allowed}`, "an administrator can set the datastore online again once it is safe");
  }

  // ---- chunks (catalog kept in step) -------------------------------------------------

  /**
   * Checks and stores a chunk; the catalog row is marked stored only once the object is
   * durable. A chunk GC is deleting right now is waited for and then stored again.
   */
  async insertChunk(digest: string, blob: Uint8Array, options?: ChunkInsertOptions): Promise<ChunkInsertResult> {
    this.assert("write", "store chunks");
    const deadline = Date.now() + CONDEMNED_WAIT_MS;
    for (;;) {
      const start = this.catalog.chunkWriteStarted(digest);
      if (start === "condemned") {
        await this.awaitCondemned(digest, deadline);
        continue;
      }
      let result: ChunkInsertResult;
      try {
        result = await this.chunks.insert(digest, blob, options);
      } catch (err) {
        if (start === "new") this.catalog.dropPendingChunk(digest); // refused upload or failed write: nothing was stored
        throw err;
      }
      const stored = result.created ? result.storedSize : ((await this.chunks.stat(digest))?.size ?? result.storedSize);
      if (this.catalog.chunkStored(digest, stored)) return { ...result, storedSize: stored };
      // GC condemned the existing row after our touch (possible only without a writer epoch
      // older than its cutoff), or verify is moving the object found aside as corrupt: the
      // object may be gone, so store it again (after the move: only a refusal asks, which keeps
      // the query off the path of every upload).
      if (this.catalog.chunkOpPending(digest)) await this.awaitChunkOp(digest, deadline);
    }
  }

  /** Whether the chunk is stored (asks the backend when the catalog does not know it). A yes is a claim: see hasChunks. */
  async hasChunk(digest: string): Promise<boolean> {
    return (await this.hasChunks([digest]))[0]!;
  }

  /**
   * Batched dedup query ("which of these do you have?"). Each yes is an atomic claim that
   * touches the chunk, so a GC cannot remove it while the asking writer's epoch lives
   * (docs/formats.md §10); a chunk GC is deleting right now is answered no (upload it again).
   */
  async hasChunks(digests: readonly string[]): Promise<boolean[]> {
    const answers = this.catalog.claimChunks(digests);
    for (let i = 0; i < digests.length; i++) {
      if (answers[i]) continue;
      const digest = digests[i]!;
      if (this.catalog.chunkState(digest) === 2 && !(await this.settleCondemnedIfGcIdle(digest))) continue;
      const st = await this.chunks.stat(digest);
      if (st) answers[i] = this.catalog.chunkStored(digest, st.size);
    }
    return answers;
  }

  /**
   * Starts a GC writer epoch for chunk work outside a snapshot writer (a session's dedup
   * queries before begin(), sync). Chunks it claims or stores are safe from GC until release().
   */
  registerWriter(purpose: string): { id: number; release(): void } {
    const id = this.catalog.registerWriter(purpose);
    let live = true;
    return {
      id,
      release: () => {
        if (live) this.catalog.unregisterWriter(id);
        live = false;
      },
    };
  }

  /** Waits until verify has moved a corrupt chunk aside (markBadChunk; recovery settles a dead one). */
  private async awaitChunkOp(digest: string, deadline: number): Promise<void> {
    while (this.catalog.chunkOpPending(digest)) {
      if (Date.now() > deadline) {
        throw new DatastoreError(
          `${chunkName(digest)}: verify is moving a corrupt copy aside and did not finish within ${CONDEMNED_WAIT_MS / 1000} s`,
          "try again; a verify that died mid-move is settled by recovery when the datastore is next opened",
        );
      }
      await Bun.sleep(20);
    }
  }

  /** Waits until GC has finished deleting a condemned chunk (or settles it when that GC died). */
  private async awaitCondemned(digest: string, deadline: number): Promise<void> {
    for (;;) {
      if (this.catalog.chunkState(digest) !== 2) return;
      if (await this.settleCondemnedIfGcIdle(digest)) return;
      if (Date.now() > deadline) {
        throw new DatastoreError(
          `${chunkName(digest)}: garbage collection is removing it and did not finish within ${CONDEMNED_WAIT_MS / 1000} s`,
          "try again when garbage collection has finished",
        );
      }
      await Bun.sleep(20);
    }
  }

  /**
   * A condemned row whose GC is gone (the GC lock is free) is settled against the backend.
   * The shared GC lock is held meanwhile so that no new GC can condemn the row again under us.
   * Returns false when a GC is running (it will finish the deletion itself).
   */
  private async settleCondemnedIfGcIdle(digest: string): Promise<boolean> {
    const probe = await tryLock(this.locks.gc(), "shared", "chunk write");
    if (!probe) return false;
    try {
      this.catalog.settleCondemned(digest, (await this.chunks.stat(digest)) !== null);
      return true;
    } finally {
      probe.release();
    }
  }

  async readChunk(digest: string, options?: ChunkReadOptions): Promise<Uint8Array> {
    this.assert("read", "read chunks");
    return this.chunks.get(digest, options);
  }

  async readRawChunk(digest: string): Promise<Uint8Array> {
    this.assert("read", "read chunks");
    return this.chunks.getRaw(digest);
  }

  /**
   * Moves a corrupt chunk aside (verify). The catalog forgets it first, under a pending "chunk"
   * op: until the op ends no writer can adopt the object found (Catalog.chunkStored refuses),
   * so a backup uploading the same chunk meanwhile stores a good copy after the move.
   */
  async markBadChunk(digest: string): Promise<string | null> {
    this.assert("verify-write", "move a corrupt chunk aside");
    this.catalog.beginOp("chunk", digest);
    this.catalog.removeChunks([digest]);
    const key = await this.chunks.markBad(digest);
    if (key) this.catalog.addBadChunk(key, digest, (await this.backend.stat(key))?.size ?? 0);
    this.catalog.endOp("chunk", digest);
    return key;
  }

  /** Deletes chunks unconditionally (not GC, which condemns first). Catalog rows go first, as in markBadChunk. */
  async removeChunks(digests: readonly string[]): Promise<void> {
    this.assert("write", "remove chunks");
    this.catalog.removeChunks(digests);
    await this.chunks.remove(digests);
  }

  // ---- maintenance --------------------------------------------------------------------

  /** Settles operations a crashed process left half done (runs on open). */
  async recover(): Promise<RecoveryResult> {
    return recoverCatalog(this.catalog, this.snapshots, this.chunks, { deleteLeftovers: this.config.mode === "online" });
  }

  /** Rebuilds the catalog from the datastore files. */
  async reindex(): Promise<ReindexResult> {
    this.assert("read", "reindex the catalog");
    return reindexCatalog(this.catalog, this.backend, this.snapshots, this.chunks);
  }

  stats(): DatastoreStats {
    const c = this.catalog.stats();
    const fs = statfsSync(this.dir);
    return {
      ...c,
      fs: {
        totalBytes: fs.blocks * fs.bsize,
        usedBytes: (fs.blocks - fs.bfree) * fs.bsize,
        availableBytes: fs.bavail * fs.bsize,
        inodesTotal: fs.files,
        inodesFree: fs.ffree,
      },
      dedupFactor: c.chunkBytes > 0 ? c.logicalBytes / c.chunkBytes : 0,
    };
  }

  close(): void {
    this.catalog.close();
  }
}

/**
 * Opening the catalog writes (SQLite creates its WAL files when no other connection has them),
 * so on a full filesystem it fails before a forget or GC could free anything: the space
 * reserve is given back then, and the open tried once more.
 */
function openCatalog(path: string, reserve: SpaceReserve): Catalog {
  try {
    return Catalog.open(path);
  } catch (err) {
    if (!reserve.releaseIfLow()) throw err;
    return Catalog.open(path);
  }
}

function configStamp(path: string): string {
  try {
    const st = statSync(path);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return "missing";
  }
}

function readConfig(path: string): { config: DatastoreConfig; stamp: string } {
  const stamp = configStamp(path);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new DatastoreError(`${path}: cannot read (${(err as Error).message})`, "check that the datastore is mounted");
  }
  return { config: parseDatastoreConfig(text, path), stamp };
}
