/**
 * The catalog side of the GC protocol (src/datastore changes for GC): chunk row states,
 * claims, condemnation, writer epochs, and that recovery and reindex never turn a condemned
 * row back into a stored one behind a running GC.
 */
import { describe, expect, test } from "bun:test";
import { encodeBlob } from "../../../src/datastore/blob.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { digestToBytes } from "../../../src/datastore/digest.ts";
import { tryLock } from "../../../src/datastore/lock.ts";
import { ct200, digestsOf, pieces, rejection, sessionBackup, vm100, withDatastore } from "./helpers.ts";

const T0 = "2026-01-01T00:00:00Z";

function condemn(ds: Datastore, digest: string): void {
  expect(ds.catalog.condemnChunks([digestToBytes(digest)], ds.catalog.gcGeneration() + 1, Date.now() + 1000)).toHaveLength(1);
}

function lastTouched(ds: Datastore, digest: string): number {
  return (ds.catalog.db.query("SELECT last_touched FROM chunks WHERE digest = ?").get(digestToBytes(digest)) as { last_touched: number }).last_touched;
}

describe("chunk row states", () => {
  test("write start is new, existing (and touched) or condemned; a condemned row is never marked stored", () =>
    withDatastore(async (ds) => {
      const [d] = digestsOf(pieces([1]));
      expect(ds.catalog.chunkWriteStarted(d!, 1000)).toBe("new");
      expect(ds.catalog.chunkState(d!)).toBe(1);
      expect(ds.catalog.claimChunks([d!])).toEqual([false]); // a write in progress is not "stored"
      expect(ds.catalog.chunkStored(d!, 10, 2000)).toBe(true);
      expect(ds.catalog.chunkWriteStarted(d!, 5000)).toBe("existing");
      expect(lastTouched(ds, d!)).toBe(5000);
      expect(ds.catalog.claimChunks([d!], 4000)).toEqual([true]);
      expect(lastTouched(ds, d!)).toBe(5000); // touches never go back in time
      condemn(ds, d!);
      expect(ds.catalog.chunkWriteStarted(d!)).toBe("condemned");
      expect(ds.catalog.chunkStored(d!, 10)).toBe(false);
      expect(ds.catalog.claimChunks([d!])).toEqual([false]);
      expect(ds.catalog.hasChunk(d!)).toBe(false);
      ds.catalog.dropPendingChunk(d!);
      expect(ds.catalog.chunkState(d!)).toBe(2);
      expect(ds.catalog.pendingChunks()).toEqual([]);
    }));

  test("condemnation only takes stored, unmarked rows untouched since the cutoff", () =>
    withDatastore(async (ds) => {
      const [a, b, c] = digestsOf(pieces([1, 2, 3]));
      for (const d of [a, b, c]) ds.catalog.chunkStored(d!, 1, 1000);
      ds.catalog.markChunks([b!], 5);
      ds.catalog.claimChunks([c!], 3000);
      const got = ds.catalog.condemnChunks([a, b, c].map((d) => digestToBytes(d!)), 5, 2000);
      expect(got.map((g) => Buffer.from(g.digest).toString("hex"))).toEqual([a]);
    }));

  test("recovery on open and reindex leave condemned rows condemned", () =>
    withDatastore(async (ds, dir) => {
      const { digests } = await sessionBackup(ds, { group: vm100, time: T0, pieces: pieces([4]) });
      condemn(ds, digests[0]!);
      const again = await Datastore.open(dir);
      expect(again.catalog.chunkState(digests[0]!)).toBe(2);
      await again.reindex();
      expect(again.catalog.chunkState(digests[0]!)).toBe(2);
      again.close();
    }));
});

describe("writer epochs", () => {
  test("begin registers the writer; commit and abort remove it; a refused begin leaves nothing", () =>
    withDatastore(async (ds) => {
      const w = await ds.snapshots.begin(vm100, T0, { owner: "root@pam" });
      expect(ds.catalog.writers()).toMatchObject([{ pid: process.pid, purpose: `backup vm/100/${T0}` }]);
      expect(await rejection(ds.snapshots.begin(vm100, "2026-01-02T00:00:00Z", { owner: "root@pam" }))).toBeDefined();
      expect(ds.catalog.writers()).toHaveLength(1);
      await w.abort();
      expect(ds.catalog.writers()).toEqual([]);
      await sessionBackup(ds, { group: ct200, time: T0, pieces: pieces([5]) });
      expect(ds.catalog.writers()).toEqual([]);
      const sync = ds.registerWriter("sync pull");
      expect(ds.catalog.writers()).toHaveLength(1);
      sync.release();
      sync.release();
      expect(ds.catalog.writers()).toEqual([]);
    }));
});

describe("meeting a condemned chunk", () => {
  test("while GC holds its lock: dedup says no, an upload waits for the deletion, then stores the chunk", () =>
    withDatastore(async (ds) => {
      const p = pieces([6]);
      const [d] = digestsOf(p);
      await ds.insertChunk(d!, encodeBlob(p[0]!));
      const gcLock = (await tryLock(ds.locks.gc(), "exclusive", "garbage collection"))!;
      condemn(ds, d!);
      expect(await ds.hasChunks([d!])).toEqual([false]);
      let done = false;
      const upload = ds.insertChunk(d!, encodeBlob(p[0]!)).then(() => (done = true));
      await Bun.sleep(100);
      expect(done).toBe(false);
      await ds.chunks.remove([d!]); // GC deletes the object, then the row
      ds.catalog.forgetCondemned([digestToBytes(d!)]);
      gcLock.release();
      await upload;
      expect(await ds.chunks.has(d!)).toBe(true);
      expect(ds.catalog.chunkState(d!)).toBe(0);
    }));

  test("after the GC died: the writer settles the row against the backend and goes on", () =>
    withDatastore(async (ds) => {
      const p = pieces([7, 8]);
      const [a, b] = digestsOf(p);
      for (const [i, d] of [a, b].entries()) await ds.insertChunk(d!, encodeBlob(p[i]!));
      condemn(ds, a!);
      condemn(ds, b!);
      await ds.chunks.remove([b!]);
      expect(await ds.hasChunks([a!])).toEqual([true]); // object survived: stored again
      const r = await ds.insertChunk(b!, encodeBlob(p[1]!)); // object gone: uploaded anew
      expect(r.created).toBe(true);
      expect(await ds.chunks.has(b!)).toBe(true);
      expect(ds.catalog.condemnedChunks()).toEqual([]);
    }));
});
