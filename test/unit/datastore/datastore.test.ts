import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeBlob } from "../../../src/datastore/blob.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { sha256Hex } from "../../../src/datastore/digest.ts";
import { DatastoreError, ModeError } from "../../../src/datastore/errors.ts";
import { backup, pseudoRandom, tempDir, vm100, withDatastore } from "./helpers.ts";

const T1 = "2026-11-26T19:00:00Z";
const T2 = "2026-11-27T19:00:00Z";

async function error(p: Promise<unknown> | (() => unknown)): Promise<Error> {
  const e = await (typeof p === "function" ? Promise.resolve().then(p) : p).then(
    () => null,
    (x) => x,
  );
  expect(e).toBeInstanceOf(Error);
  return e as Error;
}

describe("create and open", () => {
  test("datastore.json holds format, version, a random id and the mode", () =>
    withDatastore(async (ds, dir) => {
      const json = JSON.parse(readFileSync(join(dir, ".ibs/datastore.json"), "utf8"));
      expect(json).toMatchObject({ format: "ironcore-backup datastore", format_version: 1, mode: "online" });
      expect(json.id).toMatch(/^[0-9a-f-]{36}$/);
      const again = await Datastore.open(dir);
      expect(again.id).toBe(json.id);
      again.close();
      expect((await error(Datastore.create(dir))).message).toContain("already holds an IBS datastore");
    }));

  test("a newer format version is refused with a clear message", () =>
    withDatastore(async (_ds, dir) => {
      const path = join(dir, ".ibs/datastore.json");
      const json = JSON.parse(readFileSync(path, "utf8"));
      writeFileSync(path, JSON.stringify({ ...json, format_version: 2 }));
      const err = await error(Datastore.open(dir));
      expect(err).toBeInstanceOf(DatastoreError);
      expect(err.message).toBe(`${path}: datastore format version 2 is newer than this ironcore-backup supports (up to 1)`);
      expect((err as DatastoreError).hint).toContain("upgrade");
    }));

  test("refuses non-datastores and non-empty directories", async () => {
    const dir = tempDir("notds");
    try {
      expect((await error(Datastore.open(dir))).message).toContain("is not an IBS datastore");
      mkdirSync(join(dir, "stuff"));
      expect((await error(Datastore.create(dir))).message).toContain("the directory is not empty");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("modes", () => {
  test("quarantine refuses writes (naming mode and reason) and allows reads and verify results", () =>
    withDatastore(async (ds) => {
      const digests = await backup(ds, { group: vm100, time: T1, data: pseudoRandom(10_000, 4) });
      expect((await error(ds.setMode("quarantined"))).message).toContain("needs a reason");
      await ds.setMode("quarantined", "ransomware suspected on host web-01");
      const refused = await error(ds.snapshots.begin(vm100, T2, { owner: "root@pam" }));
      expect(refused).toBeInstanceOf(ModeError);
      expect(refused.message).toBe(
        `datastore store is quarantined (reason: ransomware suspected on host web-01): refusing to start a backup of vm/100; verify and restore still work`,
      );
      const piece = pseudoRandom(10, 1);
      expect(await error(ds.insertChunk(sha256Hex(piece), encodeBlob(piece)))).toBeInstanceOf(ModeError);
      expect(await error(ds.snapshots.forget({ ...vm100, time: T1 }))).toBeInstanceOf(ModeError);
      expect(await error(ds.removeChunks(digests))).toBeInstanceOf(ModeError);
      expect(await error(ds.snapshots.setNotes({ ...vm100, time: T1 }, "x"))).toBeInstanceOf(ModeError);

      const reader = await ds.snapshots.openReader({ ...vm100, time: T1 });
      const index = await reader.openIndex("root.pxar.didx");
      for (const d of index.digests()) expect((await ds.readChunk(d)).length).toBeGreaterThan(0);
      reader.release();
      await ds.snapshots.setVerifyState({ ...vm100, time: T1 }, { state: "ok" });
      expect(ds.catalog.listSnapshots()[0]!.verifyState).toBe("ok");

      await ds.setMode("online");
      await backup(ds, { group: vm100, time: T2, data: pseudoRandom(100, 5) });
    }));

  test("read-only allows reads; offline refuses reads too", () =>
    withDatastore(async (ds) => {
      const [first] = await backup(ds, { group: vm100, time: T1, data: pseudoRandom(100, 4) });
      await ds.setMode("read-only");
      expect((await error(ds.snapshots.begin(vm100, T2, { owner: "root@pam" }))).message).toBe(
        "datastore store is read-only: refusing to start a backup of vm/100; reads still work",
      );
      expect((await ds.readChunk(first!)).length).toBe(100);
      await ds.setMode("offline", "disk replacement");
      const off = await error(ds.readChunk(first!));
      expect(off.message).toBe("datastore store is offline (reason: disk replacement): refusing to read chunks");
      expect(await error(ds.snapshots.openReader({ ...vm100, time: T1 }))).toBeInstanceOf(ModeError);
      expect(await error(ds.snapshots.setVerifyState({ ...vm100, time: T1 }, { state: "ok" }))).toBeInstanceOf(ModeError);
    }));

  test("a mode set by another process applies at the next operation", () =>
    withDatastore(async (ds, dir) => {
      const admin = await Datastore.open(dir);
      await admin.setMode("quarantined", "audit");
      admin.close();
      const piece = pseudoRandom(10, 2);
      expect((await error(ds.insertChunk(sha256Hex(piece), encodeBlob(piece)))).message).toContain("is quarantined (reason: audit)");
    }));
});

test("batched dedup query answers from catalog and backend", () =>
  withDatastore(async (ds) => {
    const [a] = await backup(ds, { group: vm100, time: T1, data: pseudoRandom(100, 4) });
    const piece = pseudoRandom(50, 8);
    await ds.chunks.insert(sha256Hex(piece), encodeBlob(piece)); // stored behind the catalog's back
    expect(ds.catalog.hasChunk(sha256Hex(piece))).toBe(false);
    expect(await ds.hasChunks([a!, sha256Hex(piece), sha256Hex(pseudoRandom(5, 5))])).toEqual([true, true, false]);
    expect(ds.catalog.hasChunk(sha256Hex(piece))).toBe(true);
  }));

test("a refused chunk upload leaves nothing behind, in the store or the catalog", () =>
  withDatastore(async (ds) => {
    const piece = pseudoRandom(64, 3);
    const wrongName = sha256Hex(pseudoRandom(64, 4));
    expect((await error(ds.insertChunk(wrongName, encodeBlob(piece)))).message).toContain("digest mismatch");
    expect(ds.catalog.pendingChunks()).toEqual([]);
    expect(await ds.chunks.has(wrongName)).toBe(false);
  }));

describe("stats", () => {
  test("chunk count, stored vs logical bytes, dedup factor and filesystem figures", () =>
    withDatastore(async (ds) => {
      const data = pseudoRandom(40_000, 11);
      await backup(ds, { group: vm100, time: T1, data });
      await backup(ds, { group: vm100, time: T2, data }); // full dedup
      const s = ds.stats();
      expect(s.snapshots).toBe(2);
      expect(s.chunks).toBe(10);
      expect(s.chunkBytes).toBe(10 * (4096 + 12) - (4096 - (40_000 % 4096)));
      expect(s.logicalBytes).toBeGreaterThan(80_000);
      expect(s.dedupFactor).toBeGreaterThan(1.9);
      expect(s.fs.totalBytes).toBeGreaterThan(0);
      expect(s.fs.inodesTotal).toBeGreaterThanOrEqual(s.fs.inodesFree);
    }));
});
