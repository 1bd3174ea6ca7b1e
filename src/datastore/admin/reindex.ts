/**
 * `datastore reindex`: rebuilds the catalog from the datastore's files (the library's
 * reindexCatalog) and says whether the rebuilt catalog equals the one it replaced, compared
 * by the canonical dump of the DERIVED content. A difference means the catalog had drifted
 * from the files (a lost catalog, a restored backup of the directory, a bug) and is now fixed.
 *
 * A backup committing during the listing could be missed, so reindex is refused while a
 * backup writer holds a group lock of an online store; setting the store read-only first
 * makes the rebuild exact. It holds the GC lock throughout: a sweep deleting chunks while they
 * are listed would leave catalog rows for chunks that are gone, and dedup would trust them.
 */
import type { StateDb } from "../../state/db.ts";
import { canonicalDump } from "../catalog/dump.ts";
import type { ReindexResult } from "../catalog/reindex.ts";
import { describeHolder, lockWithTimeout, REINDEX_LOCK_PURPOSE } from "../lock.ts";
import { conflict } from "./errors.ts";
import { liveLockHolders } from "./in-use.ts";
import { withRegisteredStore } from "./open.ts";
import { requireDatastore } from "./registry.ts";

export interface DatastoreReindexResult extends ReindexResult {
  name: string;
  /** True when the rebuilt catalog equals the one it replaced. */
  unchanged: boolean;
  /** Catalog rows that differ between before and after (0 when unchanged). */
  differences: number;
  durationMs: number;
}

export async function reindexDatastore(db: StateDb, name: string): Promise<DatastoreReindexResult> {
  const entry = requireDatastore(db, name);
  return withRegisteredStore(
    entry,
    async (store) => {
      if (store.mode === "online") {
        const writers = await liveLockHolders(entry.path, (f) => f.endsWith("/group.lck"));
        if (writers.length > 0) {
          throw conflict(
            `datastore ${name}: a backup is writing (${writers[0]!.lock.replace(/\/group\.lck$/, "")} locked by ${writers[0]!.holder}); a reindex now could miss its snapshot`,
            `wait for it, or set the store read-only first: ironcore-backup datastore mode ${name} read-only`,
          );
        }
      }
      const gcLock = await lockWithTimeout(store.locks.gc(), "exclusive", REINDEX_LOCK_PURPOSE, 3000);
      if (!gcLock) {
        throw conflict(
          `datastore ${name}: garbage collection or another reindex is running (${describeHolder(store.locks.gc())}); a reindex now could record chunks it removes`,
          `wait for it to finish (ironcore-backup gc status ${name}), then run the reindex`,
        );
      }
      try {
        const started = performance.now();
        const before = canonicalDump(store.catalog);
        const result = await store.reindex();
        const after = canonicalDump(store.catalog);
        const differences = before === after ? 0 : lineDifferences(before, after);
        return { name, ...result, unchanged: differences === 0, differences, durationMs: Math.round(performance.now() - started) };
      } finally {
        gcLock.release();
      }
    },
    // Settle a crashed writer's half-done operations before listing; rebuild here, not in open,
    // so that a lost catalog shows as differences.
    { recover: true, rebuildCatalog: false },
  );
}

/** Lines present in one dump and not the other (counted with multiplicity). */
function lineDifferences(a: string, b: string): number {
  const counts = new Map<string, number>();
  for (const line of a.split("\n")) counts.set(line, (counts.get(line) ?? 0) + 1);
  for (const line of b.split("\n")) counts.set(line, (counts.get(line) ?? 0) - 1);
  let n = 0;
  for (const c of counts.values()) n += Math.abs(c);
  return n;
}
