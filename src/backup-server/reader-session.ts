/**
 * One restore (reader) session: a committed snapshot locked shared (so prune and forget wait)
 * and the allow-list of chunks it may send, which grows only by the indexes the client
 * downloads in this session. A digest outside it is refused with the same 403 whether the
 * store holds that chunk or not, so a reader can neither probe for other data nor read another
 * group's chunks by digest.
 *
 * Task type `reader`, without a worker slot: as in PBS, restores are never queued behind
 * backups and verifies, because a restore is what an operator waits for in an emergency.
 */
import { isIndexFilename, parseChunkIndex } from "../datastore/chunk-index.ts";
import { chunkName } from "../datastore/chunk-store.ts";
import type { Datastore } from "../datastore/datastore.ts";
import { DatastoreError } from "../datastore/errors.ts";
import type { Manifest } from "../datastore/manifest.ts";
import { describeSnapshot, formatNamespace, parseNamespace, type SnapshotRef, snapshotKey, validateBackupId, validateBackupType } from "../datastore/snapshot-path.ts";
import type { SnapshotReader } from "../datastore/snapshot-reader.ts";
import { errorMessage } from "../util/errors.ts";
import type { ServerDeps } from "./deps.ts";
import { badRequest, conflict, forbidden, notFound, storeError } from "./errors.ts";
import { openStore } from "./open-store.ts";
import { datastoreAclPath, requirePrivOrOwner } from "./ownership.ts";
import { DigestSet } from "./digest-set.ts";
import { type Session, SessionRegistry, sessionRegistry } from "./session-registry.ts";
import { type SessionTask, startSessionTask } from "./session-task.ts";
import { readStoredChunk } from "./stored-chunk.ts";

export interface ReaderRequest {
  store: string;
  ns?: string;
  /** `type/id/time` */
  snapshot: string;
}

export interface ReaderOpened {
  session: string;
  upid: string;
  manifest: Manifest;
}

export function parseSnapshotName(text: string, ns: readonly string[]): SnapshotRef {
  const parts = text.split("/");
  if (parts.length !== 3) throw badRequest(`snapshot '${text}' is not of the form type/id/time (e.g. vm/100/2026-11-26T19:00:00Z)`, "invalid_request");
  const [type, id, time] = parts as [string, string, string];
  return { ns, type: validateBackupType(type), id: validateBackupId(id), time };
}

export async function openReaderSession(deps: ServerDeps, authId: string, req: ReaderRequest): Promise<ReaderOpened> {
  const ns = parseNamespace(req.ns ?? "");
  const ref = parseSnapshotName(req.snapshot, ns);
  const path = datastoreAclPath(req.store, ns);
  const store = await openStore(deps.db, req.store);
  let reader: SnapshotReader | null = null;
  try {
    await requirePrivOrOwner(deps.db, authId, path, "Datastore.Read", () => store.groups.getOwner(ref));
    try {
      reader = await store.snapshots.openReader(ref);
    } catch (err) {
      if (err instanceof DatastoreError && err.exitCode === 2 && /does not exist/.test(err.message)) throw notFound(err.message, "not_found", err.hint);
      throw storeError(err, store, describeSnapshot(ref));
    }
    const registry = sessionRegistry(deps);
    const id = SessionRegistry.newId();
    let session: ReaderSession | null = null;
    const task = await startSessionTask(
      deps,
      {
        type: "reader",
        workerId: `${store.name}:${ns.length ? formatNamespace(ns) + ":" : ""}${ref.type}/${ref.id}/${ref.time}`,
        authId,
        needsSlot: false,
        params: { store: store.name, ns: formatNamespace(ns), snapshot: `${ref.type}/${ref.id}/${ref.time}` },
      },
      `restore of ${describeSnapshot(ref)} from datastore ${store.name}`,
      (reason) => void session?.end(`aborted: ${errorMessage(reason)}`),
    );
    task.ctx.log(`restore session for ${describeSnapshot(ref)} in datastore ${store.name}`);
    session = new ReaderSession(id, authId, store, reader, task, registry);
    registry.add(session);
    deps.log.info("reader session opened", { upid: task.upid, datastore: store.name, ns: formatNamespace(ns), snapshot: req.snapshot });
    return { session: id, upid: task.upid, manifest: reader.manifest };
  } catch (err) {
    reader?.release();
    store.close();
    throw err;
  }
}

export class ReaderSession implements Session {
  readonly kind = "reader" as const;
  private ended = false;
  private active = 0;
  private readonly allowed = new DigestSet();
  private readonly stats = { files: 0, chunks: 0, bytes: 0 };

  constructor(
    readonly id: string,
    readonly authId: string,
    private readonly store: Datastore,
    private readonly reader: SnapshotReader,
    private readonly task: SessionTask,
    private readonly registry: SessionRegistry,
  ) {}

  get manifest(): Manifest {
    return this.reader.manifest;
  }

  /** A file listed in the manifest; an index adds its chunks to what this session may fetch. */
  file(filename: string): Promise<Uint8Array> {
    return this.op(`file '${filename}'`, async () => {
      if (!this.reader.files.some((f) => f.filename === filename)) {
        throw notFound(`file '${filename}' is not in snapshot ${describeSnapshot(this.reader.ref)}`);
      }
      const bytes = await this.reader.readFile(filename);
      if (isIndexFilename(filename)) {
        const index = parseChunkIndex(filename, bytes, `${snapshotKey(this.reader.ref)}/${filename}`);
        this.allowed.addIndex(index);
        this.task.ctx.log(`opened index ${filename}: ${index.chunkCount} chunks, ${index.size} bytes`);
      }
      this.stats.files++;
      return bytes;
    });
  }

  chunk(digest: string): Promise<Uint8Array> {
    return this.op(chunkName(digest), async () => {
      if (!this.allowed.has(digest)) throw forbidden("chunk not referenced by an index opened in this session", "chunk_not_allowed");
      const bytes = await readStoredChunk(this.store, digest);
      this.stats.chunks++;
      this.stats.bytes += bytes.length;
      this.task.ctx.progress(this.stats.bytes, null, "B");
      return bytes;
    });
  }

  close(reason = "closed by the client"): Promise<void> {
    return this.end(reason, true);
  }

  abandon(reason: string): Promise<void> {
    return this.end(reason);
  }

  expire(idleSec: number): Promise<void> {
    return this.end(`closed after ${idleSec} s without requests (backup.session_timeout ${this.registry.timeoutSec} s)`, true);
  }

  /** Ends the session; a normal close ends the task OK, anything else with the reason. */
  async end(reason: string, ok = false): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.registry.remove(this.id);
    this.task.ctx.log(`${reason}: sent ${this.stats.files} files and ${this.stats.chunks} chunks (${this.stats.bytes} bytes)`);
    this.reader.release();
    await this.task.end(ok ? undefined : new Error(reason));
    this.closeStoreWhenIdle();
  }

  private async op<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.ended) throw conflict(`restore session ${this.id} is over`, "session_closed");
    this.active++;
    try {
      return await fn();
    } catch (err) {
      throw storeError(err, this.store, what);
    } finally {
      this.active--;
      this.closeStoreWhenIdle();
    }
  }

  private storeClosed = false;

  private closeStoreWhenIdle(): void {
    if (!this.ended || this.active > 0 || this.storeClosed) return;
    this.storeClosed = true;
    this.store.close();
  }
}
