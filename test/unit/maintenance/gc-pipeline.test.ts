/**
 * GC reads snapshot directories ahead of marking and overlaps sweep batches (one batch's
 * objects are deleted while the next is condemned). These tests use more snapshots than the
 * read-ahead and many small sweep batches, so both overlaps really happen.
 */
import { describe, expect, test } from "bun:test";
import type { GroupRef } from "../../../src/datastore/snapshot-path.ts";
import { garbageCollect } from "../../../src/maintenance/gc.ts";
import { ageChunks, checkAllSnapshots, never, pieces, sessionBackup, snap, withDatastore } from "./helpers.ts";

const HOUR = 3600_000;
const groups: GroupRef[] = ["100", "101", "102"].map((id) => ({ ns: [], type: "vm", id }));
const times = ["2026-02-01T00:00:00Z", "2026-02-02T00:00:00Z", "2026-02-03T00:00:00Z", "2026-02-04T00:00:00Z"];

/** Snapshot (g, t) holds seeds 100g+10t .. 100g+10t+5, and the shared seeds 1 and 2. */
function seedsOf(g: number, t: number): number[] {
  const base = 1000 + 100 * g + 10 * t;
  return [1, 2, base, base + 1, base + 2, base + 3, base + 4, base + 5];
}

describe("garbage collection with read-ahead and overlapping sweep batches", () => {
  test("removes exactly the chunks only forgotten snapshots used, over many batches", () =>
    withDatastore(async (ds) => {
      const digestsBy = new Map<string, string[]>();
      for (let g = 0; g < groups.length; g++) {
        for (let t = 0; t < times.length; t++) {
          const { digests } = await sessionBackup(ds, { group: groups[g]!, time: times[t]!, pieces: pieces(seedsOf(g, t), 300) });
          digestsBy.set(`${g}/${t}`, digests);
        }
      }
      // Forget every other snapshot: 6 of 12, each with 6 chunks of its own.
      const forgotten: string[] = [];
      for (let g = 0; g < groups.length; g++) {
        for (const t of [0, 2]) {
          await ds.snapshots.forget(snap(groups[g]!, times[t]!));
          forgotten.push(...digestsBy.get(`${g}/${t}`)!.slice(2));
        }
      }
      ageChunks(ds, HOUR);
      const r = await garbageCollect(ds, never, undefined, { graceSeconds: 0, batchSize: 4 });
      expect(r.status).toBe("ok");
      expect(r.snapshots).toBe(6);
      expect(r.removedChunks).toBe(forgotten.length);
      expect(r.diskChunks).toBe(2 + 6 * 6);
      for (const d of forgotten) {
        expect(await ds.chunks.has(d)).toBe(false);
        expect(ds.catalog.chunkState(d)).toBeNull();
      }
      expect(ds.catalog.condemnedChunks()).toEqual([]);
      expect(await checkAllSnapshots(ds)).toBe(6);
    }));

  test("an unreadable index of a snapshot read ahead stops GC before it removes anything", () =>
    withDatastore(async (ds) => {
      for (let g = 0; g < groups.length; g++) {
        for (let t = 0; t < times.length; t++) await sessionBackup(ds, { group: groups[g]!, time: times[t]!, pieces: pieces(seedsOf(g, t), 300) });
      }
      await ds.snapshots.forget(snap(groups[0]!, times[0]!));
      // Listed 7th of the 11 left: read ahead while earlier ones are marked.
      await ds.backend.put(`vm/102/${times[0]}/root.pxar.didx`, new Uint8Array(100));
      ageChunks(ds, HOUR);
      const stored = ds.catalog.storedChunkCount();
      const r = await garbageCollect(ds, never, undefined, { graceSeconds: 0, batchSize: 2 });
      expect(r.status).toBe("error");
      expect(r.removedChunks).toBe(0);
      expect(r.state).toContain(`snapshot vm/102/${times[0]}: cannot read index 'root.pxar.didx'`);
      expect(ds.catalog.storedChunkCount()).toBe(stored);
    }));

  test("a failure while the next batch is condemned returns only after the batch being deleted is finished", () =>
    withDatastore(async (ds) => {
      for (let t = 0; t < times.length; t++) await sessionBackup(ds, { group: groups[0]!, time: times[t]!, pieces: pieces(seedsOf(0, t), 300) });
      for (const t of [0, 1, 2]) await ds.snapshots.forget(snap(groups[0]!, times[t]!));
      ageChunks(ds, HOUR);
      const batches: string[][] = [];
      const r = await garbageCollect(ds, never, undefined, {
        graceSeconds: 0,
        batchSize: 4,
        hooks: {
          afterCondemn: async (digests) => {
            batches.push(digests);
            if (batches.length === 2) throw new Error("catalog went away");
          },
        },
      });
      expect(r.status).toBe("error");
      expect(r.state).toContain("catalog went away");
      // The first batch was being deleted when the second failed: it is finished, not half done.
      for (const d of batches[0]!) {
        expect(await ds.chunks.has(d)).toBe(false);
        expect(ds.catalog.chunkState(d)).toBeNull();
      }
      // The second stays condemned for the next GC to settle.
      expect(ds.catalog.condemnedChunks().length).toBe(batches[1]!.length);
    }));
});
