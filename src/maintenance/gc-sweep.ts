/**
 * GC phase 2, sweep: walks the catalog's chunk index in digest order, batch by batch, and for
 * each batch (1) condemns, atomically per row, the chunks still stored, unmarked in this
 * generation and untouched since the cutoff, (2) deletes their objects, (3) drops their rows.
 * Dedup claims and commits treat condemned rows as absent, so nothing can start to rely on a
 * chunk between its condemnation and its deletion. See the safety argument in gc.ts.
 *
 * Then the `.bad` copies verify moved aside: kept while their chunk is referenced and still
 * missing, removed once a good copy exists again or nothing references the chunk.
 */
import type { Datastore } from "../datastore/datastore.ts";
import { bytesToHex } from "../datastore/digest.ts";
import type { MarkSet } from "./gc-mark.ts";

export interface SweepHooks {
  /** Called after a batch is condemned, before its objects are deleted (tests interleave here). */
  afterCondemn?: (digests: string[]) => Promise<void> | void;
}

export interface SweepContext {
  signal: AbortSignal;
  batchSize: number;
  progress: (done: number, total: number) => void;
  hooks?: SweepHooks;
}

export interface SweepStats {
  removedChunks: number;
  removedBytes: number;
  aborted: boolean;
}

const DIGEST_SPACE = 65536; // progress: position of the cursor's first two bytes

export async function sweepUnmarked(ds: Datastore, generation: number, cutoff: number, ctx: SweepContext): Promise<SweepStats> {
  const stats: SweepStats = { removedChunks: 0, removedBytes: 0, aborted: false };
  let cursor: Uint8Array = new Uint8Array(0);
  // Two batches overlap: while one batch's objects are being deleted (I/O, mostly waiting),
  // the next one is selected and condemned (catalog work on this thread). Each batch still goes
  // condemn -> delete -> drop rows in that order; batches are independent of each other.
  let inFlight: Promise<void> | null = null;
  const finishBatch = async (condemned: { digest: Uint8Array; size: number }[], hex: string[]) => {
    await ds.chunks.remove(hex);
    ds.catalog.forgetCondemned(condemned.map((c) => c.digest));
    stats.removedChunks += condemned.length;
    for (const c of condemned) stats.removedBytes += c.size;
  };
  try {
    for (;;) {
      // A batch, once condemned, is always finished: stopping between condemn and delete
      // would leave rows that writers have to wait out.
      if (ctx.signal.aborted) {
        stats.aborted = true;
        break;
      }
      const candidates = ds.catalog.gcCandidates(cursor, generation, cutoff, ctx.batchSize);
      if (candidates.length === 0) break;
      cursor = candidates.at(-1)!;
      const condemned = ds.catalog.condemnChunks(candidates, generation, cutoff);
      if (condemned.length > 0) {
        const hex = condemned.map((c) => bytesToHex(c.digest));
        await ctx.hooks?.afterCondemn?.(hex);
        const batch = finishBatch(condemned, hex);
        const previous = inFlight;
        inFlight = batch;
        if (previous) await previous;
      }
      ctx.progress(cursor[0]! * 256 + cursor[1]!, DIGEST_SPACE);
    }
  } catch (err) {
    // Whatever failed here, the batch being deleted is finished before the error leaves (the
    // caller releases the GC lock next).
    await inFlight?.catch(() => {});
    throw err;
  }
  if (inFlight) await inFlight;
  return stats;
}

export interface BadCopyStats {
  removedBad: number;
  stillBad: number;
}

/** `badCopies` is the list taken before marking: copies made by a verify running meanwhile are left for the next GC. */
export async function sweepBadCopies(ds: Datastore, badCopies: { key: string; digest: string }[], referenced: MarkSet): Promise<BadCopyStats> {
  const remove: string[] = [];
  let stillBad = 0;
  for (const copy of badCopies) {
    const goodCopyStored = ds.catalog.chunkState(copy.digest) === 0;
    if (goodCopyStored || !referenced.has(copy.digest)) remove.push(copy.key);
    else stillBad++;
  }
  if (remove.length) {
    await ds.backend.delete(remove);
    ds.catalog.removeBadChunks(remove);
  }
  return { removedBad: remove.length, stillBad };
}
