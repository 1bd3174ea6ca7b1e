import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { statfsSync } from "node:fs";
import { join } from "node:path";
import { createDatastore } from "../../../src/datastore/admin/create.ts";
import { recordMaintenanceResult } from "../../../src/datastore/admin/maintenance-status.ts";
import { quarantineDatastore, setDatastoreMode } from "../../../src/datastore/admin/modes.ts";
import { createNamespace, listNamespaces, removeNamespace } from "../../../src/datastore/admin/namespaces.ts";
import { reindexDatastore } from "../../../src/datastore/admin/reindex.ts";
import { datastoreStats } from "../../../src/datastore/admin/stats.ts";
import { canonicalDump } from "../../../src/datastore/catalog/dump.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { GC_LOCK_PURPOSE, tryLock } from "../../../src/datastore/lock.ts";
import { garbageCollect } from "../../../src/maintenance/gc.ts";
import { gcStatus } from "../../../src/maintenance/gc-status.ts";
import { backup, pseudoRandom, vm100 } from "../datastore/helpers.ts";
import { insertTask, type Scratch, scratch, thrown } from "./helpers.ts";

let s: Scratch;
let path: string;
beforeEach(async () => {
  s = scratch();
  path = join(s.root, "store1");
  await createDatastore(s.db, { name: "store1", path });
});
afterEach(() => s.cleanup());

async function twoBackupsOfTheSameData(): Promise<void> {
  const ds = await Datastore.open(path, { name: "store1" });
  try {
    const data = pseudoRandom(64 * 1024, 7);
    await backup(ds, { group: vm100, time: "2026-11-26T19:00:00Z", data });
    await backup(ds, { group: vm100, time: "2026-11-26T20:00:00Z", data });
    await backup(ds, { group: { ns: [], type: "ct", id: "200" }, time: "2026-11-26T20:00:00Z", data: pseudoRandom(8192, 9) });
    await ds.snapshots.setVerifyState({ ...vm100, time: "2026-11-26T19:00:00Z" }, { state: "ok", upid: "UPID:x", time: 1 });
  } finally {
    ds.close();
  }
}

describe("datastore stats", () => {
  test("filesystem figures as df reports them, content counts, dedup factor, verify states", async () => {
    await twoBackupsOfTheSameData();
    const st = await datastoreStats(s.db, "store1");
    const fs = statfsSync(path);
    expect(st.filesystem.bytesTotal).toBe(fs.blocks * fs.bsize);
    expect(st.filesystem.inodesTotal).toBe(fs.files);
    expect(st.filesystem.inodesUsed + st.filesystem.inodesFree).toBe(fs.files);
    expect(st.filesystem.bytesAvailable).toBeLessThanOrEqual(st.filesystem.bytesTotal - st.filesystem.bytesUsed);
    const c = st.content!;
    expect(c).toMatchObject({ chunks: 18, snapshots: 3, groups: 2, namespaces: 0, verification: { ok: 1, failed: 0, never: 2 } });
    // 64 KiB written twice + 8 KiB once, plus small config blobs; each chunk stored once
    expect(c.logicalBytes).toBeGreaterThan(2 * 64 * 1024 + 8192);
    expect(c.dedupFactor).toBeCloseTo(c.logicalBytes / c.storedBytes, 6);
    expect(c.dedupFactor).toBeGreaterThan(1.5);
    expect(st.lastGc).toBeNull();
  });

  test("last GC and verify: the newer of the task history and the catalog's record", async () => {
    insertTask(s.db, { upid: "UPID:gc-old", type: "gc", workerId: "store1", status: "finished", result: "OK", endedAt: Date.parse("2026-11-20T00:00:00Z") });
    insertTask(s.db, { upid: "UPID:verify-1", type: "verificationjob", workerId: "store1:v-daily", status: "finished", result: "WARNINGS: 2", endedAt: Date.parse("2026-11-21T00:00:00Z") });
    insertTask(s.db, { upid: "UPID:gc-other", type: "gc", workerId: "store10", status: "finished", result: "OK", endedAt: Date.parse("2026-11-25T00:00:00Z") });
    const ds = await Datastore.open(path);
    recordMaintenanceResult(ds.catalog, "gc", { upid: "UPID:gc-new", state: "OK", finished: "2026-11-22T00:00:00.000Z", summary: { removedChunks: 3 } });
    ds.close();
    const st = await datastoreStats(s.db, "store1");
    expect(st.lastGc).toMatchObject({ upid: "UPID:gc-new", state: "OK", summary: { removedChunks: 3 } });
    expect(st.lastVerify).toMatchObject({ upid: "UPID:verify-1", state: "WARNINGS: 2", finished: "2026-11-21T00:00:00.000Z" });
  });

  test("a quarantined store still reports stats with its reason", async () => {
    await quarantineDatastore(s.db, "store1", "under investigation");
    const st = await datastoreStats(s.db, "store1");
    expect(st).toMatchObject({ mode: "quarantined", modeReason: "under investigation", contentError: null });
  });
});

describe("datastore reindex", () => {
  test("the rebuilt catalog equals the one it replaces", async () => {
    await twoBackupsOfTheSameData();
    await createNamespace(s.db, "store1", "prod/web");
    const before = await Datastore.open(path).then((ds) => {
      const d = canonicalDump(ds.catalog);
      ds.close();
      return d;
    });
    const r = await reindexDatastore(s.db, "store1");
    expect(r).toMatchObject({ unchanged: true, differences: 0, snapshots: 3, groups: 2, namespaces: 2, chunks: 18, warnings: [] });
    const ds = await Datastore.open(path);
    expect(canonicalDump(ds.catalog)).toBe(before);
    ds.close();
  });

  test("a drifted catalog is rebuilt to match the files, and reported", async () => {
    await twoBackupsOfTheSameData();
    const ds = await Datastore.open(path);
    ds.catalog.db.exec("DELETE FROM snapshots WHERE id = (SELECT min(id) FROM snapshots); DELETE FROM namespaces;");
    ds.catalog.db.exec("DELETE FROM chunks WHERE digest = (SELECT min(digest) FROM chunks)");
    ds.close();
    const r = await reindexDatastore(s.db, "store1");
    expect(r.unchanged).toBe(false);
    expect(r.differences).toBeGreaterThan(0);
    expect((await reindexDatastore(s.db, "store1")).unchanged).toBe(true);
    expect((await datastoreStats(s.db, "store1")).content!.snapshots).toBe(3);
  });

  test("holds the GC lock: refused while a GC runs, and a GC cannot start during it", async () => {
    await twoBackupsOfTheSameData();
    const ds = await Datastore.open(path);
    const gc = await tryLock(ds.locks.gc(), "exclusive", GC_LOCK_PURPOSE);
    try {
      const err = await thrown(() => reindexDatastore(s.db, "store1"));
      expect(err.message).toMatch(/^datastore store1: garbage collection or another reindex is running \(pid \d+ \(garbage collection, since/);
      expect(err.hint).toContain("gc status store1");
    } finally {
      gc!.release();
    }
    // A GC started while the reindex lists the store (run from inside its listing) is refused.
    let gcRefusal: Error | undefined;
    const listing = Datastore.prototype.reindex;
    Datastore.prototype.reindex = async function (this: Datastore) {
      gcRefusal = await garbageCollect(ds, new AbortController().signal, undefined, { lockWaitMs: 50 }).then(
        () => undefined,
        (e: Error) => e,
      );
      return listing.call(this);
    };
    try {
      expect((await reindexDatastore(s.db, "store1")).unchanged).toBe(true);
    } finally {
      Datastore.prototype.reindex = listing;
    }
    expect(gcRefusal?.message).toMatch(/^garbage collection of datastore store1 cannot start while the datastore is reindexed \(pid \d+ \(datastore reindex/);
    expect(gcStatus(ds).running).toBeNull();
    ds.close();
  });

  test("refused while a backup writes to an online store", async () => {
    const ds = await Datastore.open(path);
    const writer = await ds.snapshots.begin(vm100, "2026-11-26T22:00:00Z", { owner: "root@pam" });
    try {
      const err = await thrown(() => reindexDatastore(s.db, "store1"));
      expect(err.message).toMatch(/^datastore store1: a backup is writing \(vm\/100 locked by pid \d+ \(backup\)\)/);
      expect(err.hint).toContain("datastore mode store1 read-only");
    } finally {
      await writer.abort();
      ds.close();
    }
  });
});

describe("namespaces", () => {
  test("create (with parents, idempotent), list, remove only when empty; depth limit 8", async () => {
    expect(await createNamespace(s.db, "store1", "prod/web")).toEqual({ store: "store1", ns: "prod/web", changed: true });
    expect((await createNamespace(s.db, "store1", "prod/web")).changed).toBe(false);
    expect(await listNamespaces(s.db, "store1")).toEqual([
      { ns: "prod", depth: 1 },
      { ns: "prod/web", depth: 2 },
    ]);
    expect(await listNamespaces(s.db, "store1", "prod")).toEqual([{ ns: "prod/web", depth: 2 }]);
    expect((await thrown(() => removeNamespace(s.db, "store1", "prod"))).message).toContain("namespace prod is not empty");
    await removeNamespace(s.db, "store1", "prod/web");
    await removeNamespace(s.db, "store1", "prod");
    expect(await listNamespaces(s.db, "store1")).toEqual([]);

    await createNamespace(s.db, "store1", "a/b/c/d/e/f/g/h");
    const deep = await thrown(() => createNamespace(s.db, "store1", "a/b/c/d/e/f/g/h/i"));
    expect(deep.message).toBe("namespace 'a/b/c/d/e/f/g/h/i' is 9 levels deep; the limit is 8");
    expect(deep.exitCode).toBe(2);
    expect((await thrown(() => removeNamespace(s.db, "store1", "nope"))).httpStatus).toBe(404);
    expect((await thrown(() => createNamespace(s.db, "store1", "/"))).message).toContain("root namespace");
  });

  test("namespace changes follow the store's mode", async () => {
    await setDatastoreMode(s.db, "store1", "read-only");
    expect((await thrown(() => createNamespace(s.db, "store1", "x"))).message).toContain("is read-only");
    expect(await listNamespaces(s.db, "store1")).toEqual([]);
  });
});
