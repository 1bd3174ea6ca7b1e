/**
 * Brings the catalog back in line with the backend after a process died mid-operation
 * (kill -9, power loss). Runs when a datastore is opened; cheap when nothing is pending.
 * - pending_ops rows: each object is settled under the locks its operation holds, so
 *   operations still running in other processes are left alone ("busy")
 * - chunk rows whose write started: marked stored when the object exists; dropped when the
 *   object is absent and the write started long ago (a live writer finishes well within that)
 */
import type { ChunkStore } from "../chunk-store.ts";
import { chunkKey } from "../chunk-store.ts";
import { parseContentKey } from "../snapshot-path.ts";
import type { SnapshotStore } from "../snapshot-store.ts";
import type { Catalog, PendingOp } from "./catalog.ts";

/** Chunk work has no lock to probe; older than this it cannot be alive any more. */
const STALE_CHUNK_WORK_MS = 60 * 60 * 1000;

export interface RecoveryResult {
  settled: number;
  busy: number;
  chunksConfirmed: number;
  chunksDropped: number;
}

export async function recoverCatalog(
  catalog: Catalog,
  store: SnapshotStore,
  chunks: ChunkStore,
  options: { deleteLeftovers: boolean; now?: number },
): Promise<RecoveryResult> {
  const now = options.now ?? Date.now();
  const result: RecoveryResult = { settled: 0, busy: 0, chunksConfirmed: 0, chunksDropped: 0 };
  for (const op of catalog.pendingOps()) {
    const done = await settle(op, catalog, store, chunks, options.deleteLeftovers, now);
    if (done) result.settled++;
    else result.busy++;
  }
  for (const pending of catalog.pendingChunks()) {
    const st = await chunks.stat(pending.digest);
    if (st) {
      catalog.chunkStored(pending.digest, st.size, pending.since);
      result.chunksConfirmed++;
    } else if (now - pending.since > STALE_CHUNK_WORK_MS) {
      catalog.dropPendingChunk(pending.digest);
      result.chunksDropped++;
    }
  }
  return result;
}

async function settle(op: PendingOp, catalog: Catalog, store: SnapshotStore, chunks: ChunkStore, deleteLeftovers: boolean, now: number): Promise<boolean> {
  if (op.kind === "chunk") {
    if (now - op.started < STALE_CHUNK_WORK_MS) return false;
    const st = await chunks.stat(op.path);
    const copies: { key: string; size: number }[] = [];
    for await (const e of chunks.backend.list(`${chunkKey(op.path)}.`)) if (e.key.endsWith(".bad")) copies.push(e);
    // The op ends first, in the same transaction: chunkStored refuses while it is pending.
    catalog.transaction(() => {
      catalog.endOp("chunk", op.path);
      if (st) catalog.chunkStored(op.path, st.size);
      else catalog.removeChunks([op.path]);
      catalog.setBadChunks(op.path, copies);
    });
    return true;
  }
  const parsed = parseContentKey(op.kind === "namespace" ? `${op.path}/.namespace` : op.kind === "group" ? `${op.path}/x` : `${op.path}/x`);
  if (op.kind === "namespace" && parsed?.kind === "namespace-marker") return store.namespaces.settle(parsed.ns);
  if (op.kind === "group" && parsed?.kind === "group-file") return store.groups.settle(parsed.group);
  if (op.kind === "snapshot" && parsed?.kind === "snapshot-file") return (await store.settle(parsed.snapshot, { deleteLeftovers })) !== "busy";
  catalog.endOp(op.kind, op.path); // not a key this build writes: nothing to settle
  return true;
}
