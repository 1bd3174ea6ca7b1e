/**
 * The interleavings that lose chunks in naive GC designs, played step by step in one process
 * through GC's hooks. The classic one: a backup asks "do you have X?" (yes), GC then sweeps X
 * because no snapshot references it, and the backup commits a manifest referencing X.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { encodeBlob } from "../../../src/datastore/blob.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { digestToBytes } from "../../../src/datastore/digest.ts";
import { DynamicIndexWriter } from "../../../src/datastore/dynamic-index.ts";
import type { SnapshotWriter } from "../../../src/datastore/snapshot-writer.ts";
import { garbageCollect } from "../../../src/maintenance/gc.ts";
import { spawnReady } from "../datastore/fixtures/spawn.ts";
import { ageChunks, checkAllSnapshots, ct200, digestsOf, never, pieces, rejection, sessionBackup, snap, tempDir, vm100, withDatastore } from "./helpers.ts";

const T0 = "2026-01-01T00:00:00Z";
const T1 = "2026-01-02T00:00:00Z";
const HOUR = 3600_000;

/** A store where the chunks of `seeds` exist but nothing references them any more, untouched for an hour. */
async function orphanedChunks(ds: Datastore, seeds: number[]): Promise<{ p: Uint8Array[]; d: string[] }> {
  const p = pieces(seeds);
  await sessionBackup(ds, { group: ct200, time: T0, pieces: p });
  await ds.snapshots.forget(snap(ct200, T0));
  ageChunks(ds, HOUR);
  return { p, d: digestsOf(p) };
}

async function addIndex(writer: SnapshotWriter, p: Uint8Array[]): Promise<void> {
  const idx = new DynamicIndexWriter();
  for (const [i, d] of digestsOf(p).entries()) idx.addChunk(p[i]!.length, d);
  await writer.addFile("root.pxar.didx", idx.finish());
}

describe("dedup check, GC sweep, commit", () => {
  test("a chunk a running backup was told the store has survives a whole GC run, and the commit is complete", () =>
    withDatastore(async (ds) => {
      const { p, d } = await orphanedChunks(ds, [1, 2]);
      const writer = await ds.snapshots.begin(vm100, T1, { owner: "root@pam" });
      expect(await ds.hasChunks(d)).toEqual([true, true]); // dedup: nothing to upload
      const r = await garbageCollect(ds, never, undefined, { graceSeconds: 0 });
      expect(r.removedChunks).toBe(0);
      expect(r.pendingChunks).toBe(2);
      await addIndex(writer, p);
      await writer.commit();
      expect(await checkAllSnapshots(ds)).toBe(1);
      // and once the snapshot is gone and the writer long finished, the chunks do go
      await ds.snapshots.forget(snap(vm100, T1));
      ageChunks(ds, HOUR);
      expect((await garbageCollect(ds, never, undefined, { graceSeconds: 0 })).removedChunks).toBe(2);
    }));

  test("the same with the dedup check made while GC is between mark and sweep (writer registered after GC's cutoff)", () =>
    withDatastore(async (ds) => {
      const { p, d } = await orphanedChunks(ds, [3, 4]);
      let writer: SnapshotWriter | null = null;
      const r = await garbageCollect(ds, never, undefined, {
        graceSeconds: 0,
        hooks: {
          afterMark: async () => {
            writer = await ds.snapshots.begin(vm100, T1, { owner: "root@pam" });
            expect(await ds.hasChunks(d)).toEqual([true, true]);
          },
        },
      });
      expect(r.removedChunks).toBe(0);
      await addIndex(writer!, p);
      await writer!.commit();
      expect(await checkAllSnapshots(ds)).toBe(1);
    }));

  test("without a writer epoch the commit refuses (naming the chunk) rather than reference a removed chunk", () =>
    withDatastore(async (ds) => {
      const { p, d } = await orphanedChunks(ds, [5]);
      const writer = await ds.snapshots.begin(vm100, T1, { owner: "root@pam" });
      expect(await ds.hasChunks(d)).toEqual([true]);
      ds.catalog.db.exec("DELETE FROM writers"); // as if the session had never registered
      await Bun.sleep(5); // the claim is now older than GC's clock reading
      const r = await garbageCollect(ds, never, undefined, { graceSeconds: 0 });
      expect(r.removedChunks).toBe(1);
      await addIndex(writer, p);
      const err = await rejection(writer.commit());
      expect(err.message).toBe(`snapshot vm/100/${T1}: index 'root.pxar.didx' references chunk ${d[0]!.slice(0, 12)}… which is not in the datastore; not committing`);
      expect(await ds.snapshots.list(vm100)).toEqual([]);
    }));
});

describe("GC condemned the chunk first", () => {
  test("the dedup answer is no, and the re-upload waits for GC's deletion and then stores the chunk anew", () =>
    withDatastore(async (ds) => {
      const { p, d } = await orphanedChunks(ds, [6]);
      const writer = await ds.snapshots.begin(vm100, T1, { owner: "root@pam" });
      let upload: Promise<unknown> | null = null;
      let deleted = false;
      let uploadDoneAfterDelete = false;
      const remove = ds.chunks.remove.bind(ds.chunks);
      ds.chunks.remove = async (keys) => {
        await remove(keys);
        deleted = true;
      };
      const r = await garbageCollect(ds, never, undefined, {
        graceSeconds: 0,
        hooks: {
          afterCondemn: async (digests) => {
            expect(digests).toEqual(d);
            expect(await ds.chunks.has(d[0]!)).toBe(true); // the object is still there ...
            expect(await ds.hasChunks(d)).toEqual([false]); // ... but the store says no
            upload = ds.insertChunk(d[0]!, encodeBlob(p[0]!)).then(() => (uploadDoneAfterDelete = deleted));
            await Bun.sleep(60);
          },
        },
      });
      expect(r.removedChunks).toBe(1);
      await upload;
      expect(uploadDoneAfterDelete).toBe(true);
      expect(await ds.chunks.has(d[0]!)).toBe(true);
      expect(ds.catalog.chunkState(d[0]!)).toBe(0);
      await addIndex(writer, p);
      await writer.commit();
      expect(await checkAllSnapshots(ds)).toBe(1);
    }));

  test("the hazard is real: a raw conditional create during the condemnation is lost (what insertChunk's wait prevents)", () =>
    withDatastore(async (ds) => {
      const { p, d } = await orphanedChunks(ds, [7]);
      let outcome = "";
      await garbageCollect(ds, never, undefined, {
        graceSeconds: 0,
        hooks: { afterCondemn: async () => void (outcome = await ds.chunks.insert(d[0]!, encodeBlob(p[0]!)).then((x) => (x.created ? "created" : "exists"))) },
      });
      expect(outcome).toBe("exists");
      expect(await ds.chunks.has(d[0]!)).toBe(false);
    }));

  test("a commit that references a condemned chunk without asking (allow-list reuse) is refused", () =>
    withDatastore(async (ds) => {
      const { p, d } = await orphanedChunks(ds, [8]);
      const writer = await ds.snapshots.begin(vm100, T1, { owner: "root@pam" });
      let refusal: Error | null = null;
      await garbageCollect(ds, never, undefined, {
        graceSeconds: 0,
        hooks: {
          afterMark: () => addIndex(writer, p), // written after GC listed the directory (an index listed earlier is marked)
          afterCondemn: async () => void (refusal = await rejection(writer.commit())),
        },
      });
      expect(refusal!.message).toContain(`references chunk ${d[0]!.slice(0, 12)}… which is not in the datastore; not committing`);
      expect(await ds.snapshots.list(vm100)).toEqual([]);
      expect(await checkAllSnapshots(ds)).toBe(0);
    }));
});

describe("a GC that died mid-sweep", () => {
  test("rows it left condemned are settled by a writer (GC lock free) and by the next GC; nothing referenced is lost", () =>
    withDatastore(async (ds) => {
      const { p, d } = await orphanedChunks(ds, [9, 10]);
      const gen = ds.catalog.nextGcGeneration();
      const condemned = ds.catalog.condemnChunks(d.map(digestToBytes), gen, Date.now());
      expect(condemned).toHaveLength(2);
      await ds.chunks.remove([d[1]!]); // it had deleted one object when it died
      expect(await ds.hasChunks(d)).toEqual([true, false]);
      expect(ds.catalog.chunkState(d[0]!)).toBe(0);
      expect(ds.catalog.chunkState(d[1]!)).toBeNull();
      await ds.insertChunk(d[1]!, encodeBlob(p[1]!)); // no waiting: no GC holds the lock
      ds.catalog.condemnChunks([digestToBytes(d[0]!)], gen + 1, Date.now() + 1);
      const r = await garbageCollect(ds, never, undefined, { graceSeconds: 0 });
      expect(r.settledCondemned).toBe(1);
    }));

  test("SIGKILL between condemnation and deletion: referenced chunks intact, the next GC finishes the job", async () => {
    const parent = tempDir("gccrash");
    const dir = join(parent, "store");
    const ds = await Datastore.create(dir);
    try {
      const kept = await sessionBackup(ds, { group: vm100, time: T0, pieces: pieces([20, 21, 22]) });
      const gone = await sessionBackup(ds, { group: ct200, time: T0, pieces: pieces([23, 24, 25, 26, 27, 28]) });
      await ds.snapshots.forget(snap(ct200, T0));
      ageChunks(ds, HOUR);
      const child = await spawnReady(join(import.meta.dir, "fixtures", "gc-crash.ts"), [dir]);
      child.kill("SIGKILL");
      await child.exited;
      expect(ds.catalog.condemnedChunks().length).toBeGreaterThan(0);
      for (const x of kept.digests) expect(await ds.hasChunk(x)).toBe(true);
      const r = await garbageCollect(ds, never, undefined, { graceSeconds: 0 });
      expect(r.status).toBe("ok");
      expect(r.settledCondemned).toBeGreaterThan(0);
      for (const x of gone.digests) expect(await ds.chunks.has(x)).toBe(false);
      expect(ds.catalog.storedChunkCount()).toBe(3);
      expect(await checkAllSnapshots(ds)).toBe(1);
    } finally {
      ds.close();
      (await import("node:fs")).rmSync(parent, { recursive: true, force: true });
    }
  });
});
