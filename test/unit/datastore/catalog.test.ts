import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { encodeBlob } from "../../../src/datastore/blob.ts";
import { Catalog } from "../../../src/datastore/catalog/catalog.ts";
import { SCHEMA_VERSION } from "../../../src/datastore/catalog/schema.ts";
import { LocalBackend } from "../../../src/datastore/backends/local.ts";
import { canonicalDump } from "../../../src/datastore/catalog/dump.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { sha256Hex } from "../../../src/datastore/digest.ts";
import { backup, pseudoRandom, tempDir, vm100, withDatastore } from "./helpers.ts";

const times = ["2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z", "2026-11-22T10:00:00Z"];

async function populate(ds: Datastore): Promise<void> {
  await ds.namespaces.create(["site-a", "db"]);
  await ds.namespaces.create(["empty"]);
  const pg = { ns: ["site-a", "db"], type: "ct" as const, id: "pg" };
  const base = pseudoRandom(60_000, 42);
  for (const [i, time] of times.entries()) {
    const data = base.slice();
    data.set(pseudoRandom(3000, i + 100), i * 9000); // each backup changes a little
    await backup(ds, { group: vm100, time, data });
    await backup(ds, { group: pg, time, data: pseudoRandom(5000 + i, i), owner: "dbadmin@pbs" });
  }
  await backup(ds, { group: { ns: [], type: "host", id: "fileserver" }, time: times[0]!, data: pseudoRandom(1, 1), archive: "etc.pxar.didx" });
  await ds.snapshots.setProtected({ ...vm100, time: times[0]! }, true);
  await ds.snapshots.setNotes({ ...vm100, time: times[1]! }, "pre-upgrade");
  await ds.snapshots.setVerifyState({ ...pg, time: times[2]! }, { state: "failed", upid: "UPID:x", time: 1_800_000_000 });
  await ds.groups.setNotes(pg, "postgres");
  await ds.snapshots.forget({ ...pg, time: times[1]! });
  const [victim] = await ds.snapshots.openReader({ ...vm100, time: times[2]! }).then(async (r) => {
    const idx = await r.openIndex("root.pxar.didx");
    r.release();
    return [...idx.digests()];
  });
  await ds.markBadChunk(victim!);
}

describe("catalog", () => {
  test("reindex rebuilds exactly what incremental updates recorded (canonical dump)", () =>
    withDatastore(async (ds, dir) => {
      await populate(ds);
      const incremental = canonicalDump(ds.catalog);
      expect(incremental).toContain("pre-upgrade");
      expect(incremental).toContain('"path":"site-a/db"');
      expect(incremental).toContain(".bad");

      const result = await ds.reindex();
      expect(result.warnings).toEqual([]);
      expect(result.snapshots).toBe(6);
      expect(canonicalDump(ds.catalog)).toBe(incremental);

      // from nothing: delete the catalog and rebuild it
      ds.close();
      rmSync(join(dir, ".ibs", "catalog.db"));
      rmSync(join(dir, ".ibs", "catalog.db-wal"), { force: true });
      rmSync(join(dir, ".ibs", "catalog.db-shm"), { force: true });
      const fresh = await Datastore.open(dir);
      expect(fresh.catalog.listSnapshots()).toEqual([]);
      await fresh.reindex();
      expect(canonicalDump(fresh.catalog)).toBe(incremental);
      fresh.close();
    }));

  test("a lost catalog is rebuilt from the files by an open that asks for it, once, and not by other opens", () =>
    withDatastore(async (ds, dir) => {
      expect(ds.catalog.builtFromFiles()).not.toBeNull(); // a new store is described by its empty catalog
      await populate(ds);
      const incremental = canonicalDump(ds.catalog);
      ds.close();
      for (const f of ["catalog.db", "catalog.db-wal", "catalog.db-shm"]) rmSync(join(dir, ".ibs", f), { force: true });

      // A plain open (a look, or without the store's real backend) leaves it alone and says so.
      const look = await Datastore.open(dir, { recover: false });
      expect(look.catalog.builtFromFiles()).toBeNull();
      expect(look.catalog.listSnapshots()).toEqual([]);
      expect(look.rebuiltCatalog).toBeNull();
      look.close();

      // Two services open it at once: one rebuilds under the GC lock, the other waits and finds it done.
      const [a, b] = await Promise.all([Datastore.open(dir, { rebuildLostCatalog: true }), Datastore.open(dir, { rebuildLostCatalog: true })]);
      try {
        const rebuilt = [a.rebuiltCatalog, b.rebuiltCatalog].filter((r) => r !== null);
        expect(rebuilt.length).toBe(1);
        expect(rebuilt[0]!.snapshots).toBe(6);
        expect(canonicalDump(a.catalog)).toBe(incremental);
        expect(a.catalog.builtFromFiles()).not.toBeNull();
      } finally {
        a.close();
        b.close();
      }
      const again = await Datastore.open(dir, { rebuildLostCatalog: true });
      expect(again.rebuiltCatalog).toBeNull();
      again.close();
    }));

  test("a snapshot committed while the rebuild lists the chunks keeps its row", () =>
    withDatastore(async (ds, dir) => {
      await backup(ds, { group: vm100, time: times[0]!, data: pseudoRandom(20_000, 1) });
      ds.catalog.db.exec("DELETE FROM meta WHERE key = 'built_from_files'"); // as if lost
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let reached!: () => void;
      const atChunks = new Promise<void>((r) => (reached = r));
      // The rebuild's listing waits at .chunks/ (its longest part) while another process commits.
      class SlowChunkListing extends LocalBackend {
        override async *list(prefix: string) {
          if (prefix.startsWith(".chunks")) {
            reached();
            await gate;
          }
          yield* super.list(prefix);
        }
      }
      const opening = Datastore.open(dir, { rebuildLostCatalog: true, recover: false, backend: new SlowChunkListing(dir) });
      await atChunks;
      await backup(ds, { group: { ns: [], type: "vm", id: "200" }, time: times[1]!, data: pseudoRandom(20_000, 2) });
      release();
      const rebuilt = await opening;
      try {
        expect(rebuilt.rebuiltCatalog?.snapshots).toBe(2);
        expect(rebuilt.catalog.listSnapshots().map((r) => `${r.type}/${r.id}`).sort()).toEqual(["vm/100", "vm/200"]);
        expect(rebuilt.catalog.builtFromFiles()).not.toBeNull();
      } finally {
        rebuilt.close();
      }
    }));

  test("an upgrade marks a catalog that holds content (trusted as before), not an empty one", () =>
    withDatastore(async (ds, dir) => {
      await backup(ds, { group: vm100, time: times[0]!, data: pseudoRandom(20_000, 1) });
      const previousVersion = (db: Catalog["db"]) => {
        db.exec("DELETE FROM meta WHERE key = 'built_from_files'");
        db.exec(`PRAGMA user_version = ${SCHEMA_VERSION - 1}`);
      };
      previousVersion(ds.catalog.db);
      ds.close();
      const upgraded = await Datastore.open(dir, { recover: false });
      expect(upgraded.catalog.builtFromFiles()).not.toBeNull();
      upgraded.close();

      const emptyDir = join(tempDir(), "empty");
      const empty = await Datastore.create(emptyDir);
      previousVersion(empty.catalog.db);
      empty.close();
      const reopened = await Datastore.open(emptyDir, { recover: false });
      expect(reopened.catalog.builtFromFiles()).toBeNull();
      reopened.close();
    }));

  test("reindex follows changes made behind the catalog's back and keeps GC marks of surviving chunks", () =>
    withDatastore(async (ds) => {
      const digests = await backup(ds, { group: vm100, time: times[0]!, data: pseudoRandom(20_000, 1) });
      await backup(ds, { group: vm100, time: times[1]!, data: pseudoRandom(20_000, 2) });
      const gen = ds.catalog.nextGcGeneration();
      expect(ds.catalog.gcGeneration()).toBe(gen);
      ds.catalog.markChunks(digests, gen);
      ds.catalog.setChunkVerifyState(digests[1]!, "ok", 1234);
      // an operator deletes a snapshot directory and a chunk by hand
      const keys: string[] = [];
      for await (const e of ds.backend.list(`vm/100/${times[1]}/`)) keys.push(e.key);
      await ds.backend.delete(keys);
      await ds.chunks.remove([digests[0]!]);
      await ds.reindex();
      expect(ds.catalog.listSnapshots().map((s) => s.time)).toEqual([times[0]!]);
      expect(ds.catalog.hasChunk(digests[0]!)).toBe(false);
      const marks = ds.catalog.db.query("SELECT count(*) AS n FROM chunks WHERE mark_gen = ?").get(gen) as { n: number };
      expect(marks.n).toBe(digests.length - 1);
      expect(ds.catalog.db.query("SELECT verified_at FROM chunks WHERE verify_state = 'ok'").all()).toEqual([{ verified_at: 1234 }]);
    }));

  test("recovery settles commits a crash left pending", () =>
    withDatastore(async (ds, dir) => {
      await backup(ds, { group: vm100, time: times[0]!, data: pseudoRandom(9000, 3) });
      const before = canonicalDump(ds.catalog);
      // crash after the manifest was written, before the catalog row: simulate the catalog side
      ds.catalog.removeSnapshot({ ...vm100, time: times[0]! });
      ds.catalog.beginOp("snapshot", `vm/100/${times[0]}`);
      // crash while writing another snapshot: files without manifest, a pending op
      await ds.backend.put(`vm/100/${times[1]}/root.pxar.didx`, new Uint8Array(10));
      ds.catalog.beginOp("snapshot", `vm/100/${times[1]}`);
      // crash between chunk object and catalog row
      const piece = pseudoRandom(777, 9);
      ds.catalog.chunkWriteStarted(sha256Hex(piece));
      await ds.chunks.insert(sha256Hex(piece), encodeBlob(piece));
      ds.close();

      const again = await Datastore.open(dir);
      expect(again.catalog.pendingOps()).toEqual([]);
      expect(again.catalog.pendingChunks()).toEqual([]);
      expect(again.catalog.hasChunk(sha256Hex(piece))).toBe(true);
      expect(await again.snapshots.list(vm100, { includeIncomplete: true })).toHaveLength(1);
      await again.chunks.remove([sha256Hex(piece)]);
      again.catalog.removeChunks([sha256Hex(piece)]);
      expect(canonicalDump(again.catalog)).toBe(before);
      again.close();
    }));

  test("a catalog from a newer build is refused", () => {
    const dir = tempDir("cat");
    try {
      const path = join(dir, "catalog.db");
      const c = Catalog.open(path);
      c.db.exec("PRAGMA user_version = 99");
      c.close();
      expect(() => Catalog.open(path)).toThrow(`catalog ${path} has schema version 99`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(
    "perf smoke: 100 000 snapshots listed, 1 000 000 chunks summed",
    () => {
      const dir = tempDir("catperf");
      try {
        const c = Catalog.open(join(dir, "catalog.db"));
        const insert = c.db.query(
          "INSERT INTO snapshots (group_id, time, crypt_mode, stored_bytes, logical_bytes, file_count, manifest_csum) VALUES (?, ?, 'none', 10, 100, 2, 'x')",
        );
        c.transaction(() => {
          for (let g = 0; g < 500; g++) {
            const id = c.ensureGroup({ ns: g % 2 ? ["ns1"] : [], type: "vm", id: String(1000 + g) });
            for (let i = 0; i < 200; i++) insert.run(id, 1_700_000_000 + i * 86_400);
          }
        });
        c.db.exec(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999999)
          INSERT INTO chunks (digest, stored_size, state, first_seen, last_touched)
          SELECT unhex(printf('%064x', i * 4294967311)), 1000 + i % 5000, 0, 0, 0 FROM n`);
        const rows = c.listSnapshots();
        expect(rows.length).toBe(100_000);
        expect(rows[0]).toMatchObject({ ns: [], type: "vm", id: "1000", time: "2023-11-14T22:13:20Z" });
        expect(c.listSnapshots({ group: { ns: ["ns1"], type: "vm", id: "1001" } }).length).toBe(200);
        const s = c.stats();
        expect(s.chunks).toBe(1_000_000);
        expect(s.snapshots).toBe(100_000);
        expect(s.logicalBytes).toBe(10_000_000);
        expect(c.listGroups().length).toBe(500);
        c.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    30_000,
  );
});
