import { describe, expect, test } from "bun:test";
import { existsSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LocalBackend } from "../../../src/datastore/backends/local.ts";
import { encodeBlob } from "../../../src/datastore/blob.ts";
import { DynamicIndexWriter } from "../../../src/datastore/dynamic-index.ts";
import { LockedError, ModeError } from "../../../src/datastore/errors.ts";
import { garbageCollect, QUARANTINE_REFUSAL } from "../../../src/maintenance/gc.ts";
import { gcStatus } from "../../../src/maintenance/gc-status.ts";
import type { MaintenanceEvent } from "../../../src/maintenance/report.ts";
import { ageChunks, checkAllSnapshots, ct200, digestsOf, never, pieces, rejection, sessionBackup, snap, vm100, withDatastore } from "./helpers.ts";

const T = ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z"];
const HOUR = 3600_000;

describe("garbage collection: what it removes", () => {
  test("removes chunks only forgotten snapshots referenced, keeps shared ones, and reports the figures", () =>
    withDatastore(async (ds) => {
      const a = await sessionBackup(ds, { group: vm100, time: T[0]!, pieces: pieces([1, 2, 3, 4]) });
      const b = await sessionBackup(ds, { group: vm100, time: T[1]!, pieces: pieces([3, 4, 5]) });
      await ds.snapshots.forget(snap(vm100, T[0]!));
      ageChunks(ds, HOUR);
      const events: MaintenanceEvent[] = [];
      const r = await garbageCollect(ds, never, (e) => events.push(e), { graceSeconds: 60 });
      expect(r.status).toBe("ok");
      expect(r.state).toBe("OK");
      expect(r.removedChunks).toBe(2);
      expect(r.removedBytes).toBeGreaterThan(2 * 1500);
      expect(r.diskChunks).toBe(3);
      expect(r.pendingChunks).toBe(0);
      expect(r.snapshots).toBe(1);
      expect(r.indexFiles).toBe(1);
      expect(r.indexEntries).toBe(3);
      for (const d of a.digests.slice(0, 2)) {
        expect(await ds.chunks.has(d)).toBe(false);
        expect(ds.catalog.chunkState(d)).toBeNull();
      }
      for (const d of b.digests) expect(await ds.chunks.has(d)).toBe(true);
      expect(await checkAllSnapshots(ds)).toBe(1);
      expect(events.some((e) => e.type === "progress" && e.phase === "mark")).toBe(true);
      expect(events.some((e) => e.type === "log" && e.msg.startsWith("removed 2 chunks") && e.fields?.datastore === "store")).toBe(true);
    }));

  test("removes temp files of writes killed a day ago or more, and says so", () =>
    withDatastore(async (ds) => {
      await sessionBackup(ds, { group: vm100, time: T[0]!, pieces: pieces([1, 2]) });
      const root = (ds.backend as LocalBackend).root;
      const stale = join(root, ".chunks", ".ibstmp-0123456789abcdef");
      writeFileSync(stale, new Uint8Array(64));
      utimesSync(stale, new Date(Date.now() - 2 * 24 * HOUR), new Date(Date.now() - 2 * 24 * HOUR));
      const events: MaintenanceEvent[] = [];
      const r = await garbageCollect(ds, never, (e) => events.push(e), { graceSeconds: 60 });
      expect(r.status).toBe("ok");
      expect([r.removedTempFiles, r.removedTempBytes]).toEqual([1, 64]);
      expect(existsSync(stale)).toBe(false);
      expect(events.some((e) => e.type === "log" && e.msg.startsWith("removed 1 temp files of unfinished writes"))).toBe(true);
      expect(await checkAllSnapshots(ds)).toBe(1);
    }));

  test("a mark cache far smaller than the store gives the same result (memory is bounded, not correctness)", () =>
    withDatastore(async (ds) => {
      await sessionBackup(ds, { group: vm100, time: T[0]!, pieces: pieces([1, 2, 3, 4, 5, 6, 7, 8]) });
      await sessionBackup(ds, { group: vm100, time: T[1]!, pieces: pieces([8, 7, 6, 5, 9, 10]) });
      await sessionBackup(ds, { group: ct200, time: T[0]!, pieces: pieces([1, 11, 12]) });
      await ds.snapshots.forget(snap(vm100, T[0]!));
      ageChunks(ds, HOUR);
      const r = await garbageCollect(ds, never, undefined, { graceSeconds: 0, markCacheSize: 2, batchSize: 1 });
      expect(r.removedChunks).toBe(3); // 2, 3, 4
      expect(r.diskChunks).toBe(9);
      expect(await checkAllSnapshots(ds)).toBe(2);
    }));

  test("chunks touched within the grace window stay pending; a later run removes them", () =>
    withDatastore(async (ds) => {
      const a = await sessionBackup(ds, { group: vm100, time: T[0]!, pieces: pieces([1, 2]) });
      await ds.snapshots.forget(snap(vm100, T[0]!));
      const first = await garbageCollect(ds, never, undefined, { graceSeconds: 300 });
      expect(first.removedChunks).toBe(0);
      expect(first.pendingChunks).toBe(2);
      expect(first.pendingBytes).toBeGreaterThan(0);
      ageChunks(ds, 301_000);
      const second = await garbageCollect(ds, never, undefined, { graceSeconds: 300 });
      expect(second.removedChunks).toBe(2);
      expect(second.pendingChunks).toBe(0);
      for (const d of a.digests) expect(await ds.chunks.has(d)).toBe(false);
    }));

  test("marks in every namespace, nested ones included", () =>
    withDatastore(async (ds) => {
      await ds.namespaces.create(["a", "b"]);
      const deep = { ns: ["a", "b"], type: "host" as const, id: "web" };
      const kept = await sessionBackup(ds, { group: deep, time: T[0]!, pieces: pieces([10, 11]) });
      await sessionBackup(ds, { group: vm100, time: T[0]!, pieces: pieces([12]) });
      await ds.snapshots.forget(snap(vm100, T[0]!));
      ageChunks(ds, HOUR);
      const r = await garbageCollect(ds, never, undefined, { graceSeconds: 0 });
      expect(r.removedChunks).toBe(1);
      expect(r.snapshots).toBe(1);
      for (const d of kept.digests) expect(await ds.chunks.has(d)).toBe(true);
    }));

  test("indexes of an unfinished snapshot directory are marked too (a live writer's files)", () =>
    withDatastore(async (ds) => {
      const p = pieces([20, 21]);
      await sessionBackup(ds, { group: vm100, time: T[0]!, pieces: p });
      await ds.snapshots.forget(snap(vm100, T[0]!));
      const writer = await ds.snapshots.begin(ct200, T[1]!, { owner: "root@pam" });
      const idx = new DynamicIndexWriter();
      for (const [i, d] of digestsOf(p).entries()) idx.addChunk(p[i]!.length, d);
      await writer.addFile("root.pxar.didx", idx.finish());
      // the writer stays open: a backup still at work
      ageChunks(ds, HOUR);
      // Even without the epoch (grace 0 and an old cutoff would not protect these), the index marks them.
      ds.catalog.db.exec("DELETE FROM writers");
      const r = await garbageCollect(ds, never, undefined, { graceSeconds: 0 });
      expect(r.removedChunks).toBe(0);
      await writer.commit();
      expect(await checkAllSnapshots(ds)).toBe(1);
    }));

  test("a referenced chunk that is missing is a warning; its .bad copy is kept until a good copy is back", () =>
    withDatastore(async (ds) => {
      const p = pieces([30, 31]);
      const { digests } = await sessionBackup(ds, { group: vm100, time: T[0]!, pieces: p });
      const badKey = await ds.markBadChunk(digests[0]!);
      expect(badKey).toEndWith(".0.bad");
      ageChunks(ds, HOUR);
      const r = await garbageCollect(ds, never, undefined, { graceSeconds: 0 });
      expect(r.status).toBe("warnings");
      expect(r.state).toBe("WARNINGS: 1");
      expect(r.missingChunks).toBe(1);
      expect(r.warnings[0]).toContain(`chunk ${digests[0]!.slice(0, 12)}… referenced by snapshot vm/100/${T[0]} is missing`);
      expect(r.stillBad).toBe(1);
      expect(await ds.backend.stat(badKey!)).not.toBeNull();
      // a later backup heals the store; the .bad copy is then removed
      await ds.insertChunk(digests[0]!, encodeBlob(p[0]!));
      const healed = await garbageCollect(ds, never, undefined, { graceSeconds: 0 });
      expect(healed.status).toBe("ok");
      expect(healed.removedBad).toBe(1);
      expect(await ds.backend.stat(badKey!)).toBeNull();
      expect(ds.catalog.badChunkRows()).toEqual([]);
    }));

  test("a committed snapshot whose index cannot be read stops GC before it removes anything", () =>
    withDatastore(async (ds) => {
      await sessionBackup(ds, { group: vm100, time: T[0]!, pieces: pieces([40]) });
      await sessionBackup(ds, { group: ct200, time: T[0]!, pieces: pieces([41]) });
      await ds.snapshots.forget(snap(ct200, T[0]!));
      await ds.backend.put(`vm/100/${T[0]}/root.pxar.didx`, new Uint8Array(100));
      ageChunks(ds, HOUR);
      const r = await garbageCollect(ds, never, undefined, { graceSeconds: 0 });
      expect(r.status).toBe("error");
      expect(r.removedChunks).toBe(0);
      expect(r.state).toContain(`snapshot vm/100/${T[0]}: cannot read index 'root.pxar.didx'`);
      expect(r.state).toContain("garbage collection removed nothing");
      expect(ds.catalog.storedChunkCount()).toBe(2);
    }));
});

describe("garbage collection: refusals, abort, status", () => {
  test("refuses on a quarantined datastore with the runbook's words, and in read-only mode", () =>
    withDatastore(async (ds) => {
      await ds.setMode("quarantined", "ransomware suspected");
      const err = await rejection(garbageCollect(ds, never));
      expect(err).toBeInstanceOf(ModeError);
      expect(err.message).toBe(`${QUARANTINE_REFUSAL} (datastore store, reason: ransomware suspected)`);
      expect(err.message).toContain("datastore is quarantined: do not run garbage collection until the root cause is established");
      await ds.setMode("read-only");
      expect((await rejection(garbageCollect(ds, never))).message).toContain("is read-only: refusing to run garbage collection");
      expect(gcStatus(ds).last).toBeNull();
    }));

  test("a second GC on the same datastore is refused while the first runs; status shows the running phase", () =>
    withDatastore(async (ds, dir) => {
      await sessionBackup(ds, { group: vm100, time: T[0]!, pieces: pieces([50]) });
      const { Datastore } = await import("../../../src/datastore/datastore.ts");
      const other = await Datastore.open(dir);
      try {
        let seen: ReturnType<typeof gcStatus> | null = null;
        let refused: Error | null = null;
        const r = await garbageCollect(ds, never, undefined, {
          hooks: {
            afterMark: async () => {
              seen = gcStatus(other);
              refused = await rejection(garbageCollect(other, never, undefined, { lockWaitMs: 50 }));
            },
          },
        });
        expect(r.status).toBe("ok");
        expect(refused).toBeInstanceOf(LockedError);
        expect(refused!.message).toContain(`garbage collection of datastore store is already running (pid ${process.pid} (garbage collection`);
        expect(seen!.running).toMatchObject({ pid: process.pid, phase: "mark" });
        const after = gcStatus(other);
        expect(after.running).toBeNull();
        expect(after.last).toMatchObject({ state: "OK", upid: null, summary: { status: "ok", snapshots: 1 } });
      } finally {
        other.close();
      }
    }));

  test("abort before the sweep removes nothing; abort during the sweep finishes the batch and stops", () =>
    withDatastore(async (ds) => {
      const { digests } = await sessionBackup(ds, { group: vm100, time: T[0]!, pieces: pieces([60, 61, 62, 63, 64, 65]) });
      await ds.snapshots.forget(snap(vm100, T[0]!));
      ageChunks(ds, HOUR);
      const early = new AbortController();
      early.abort();
      const r1 = await garbageCollect(ds, early.signal, undefined, { graceSeconds: 0 });
      expect(r1.status).toBe("aborted");
      expect(r1.state).toBe("aborted");
      expect(r1.removedChunks).toBe(0);

      const mid = new AbortController();
      const r2 = await garbageCollect(ds, mid.signal, undefined, { graceSeconds: 0, batchSize: 2, hooks: { afterCondemn: () => mid.abort() } });
      expect(r2.status).toBe("aborted");
      expect(r2.phase).toBe("sweep");
      expect(r2.removedChunks).toBe(2);
      expect(ds.catalog.condemnedChunks()).toEqual([]);
      let present = 0;
      for (const d of digests) if (await ds.chunks.has(d)) present++;
      expect(present).toBe(4);
      expect(gcStatus(ds).last!.state).toBe("aborted");
      const r3 = await garbageCollect(ds, never, undefined, { graceSeconds: 0 });
      expect(r3.removedChunks).toBe(4);
    }));

  test("a dead writer's epoch does not hold back the cutoff; a live one does", () =>
    withDatastore(async (ds) => {
      await sessionBackup(ds, { group: vm100, time: T[0]!, pieces: pieces([70]) });
      await ds.snapshots.forget(snap(vm100, T[0]!));
      ageChunks(ds, 2 * HOUR);
      const dead = Bun.spawnSync(["true"]).pid;
      ds.catalog.db.query("INSERT INTO writers (pid, pstart, started, purpose) VALUES (?, 1, ?, 'backup vm/1')").run(dead, Date.now() - 3 * HOUR);
      const live = ds.registerWriter("sync job x");
      ds.catalog.db.query("UPDATE writers SET started = ? WHERE id = ?").run(Date.now() - 3 * HOUR, live.id);
      const held = await garbageCollect(ds, never, undefined, { graceSeconds: 0 });
      expect(held.deadWritersRemoved).toBe(1);
      expect(held.oldestWriter).toMatchObject({ pid: process.pid, purpose: "sync job x" });
      expect(held.removedChunks).toBe(0);
      expect(held.pendingChunks).toBe(1);
      live.release();
      const freed = await garbageCollect(ds, never, undefined, { graceSeconds: 0 });
      expect(freed.oldestWriter).toBeNull();
      expect(freed.removedChunks).toBe(1);
    }));
});
