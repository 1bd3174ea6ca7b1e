import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { encodeBlob } from "../../../src/datastore/blob.ts";
import { chunkDigest, sha256Hex } from "../../../src/datastore/digest.ts";
import { DynamicIndexWriter } from "../../../src/datastore/dynamic-index.ts";
import { CorruptError, DatastoreError, LockedError } from "../../../src/datastore/errors.ts";
import { createManifest, describeFile, verifyManifestSignature } from "../../../src/datastore/manifest.ts";
import type { SnapshotRef } from "../../../src/datastore/snapshot-path.ts";
import { backup, pseudoRandom, vm100, withDatastore } from "./helpers.ts";
import { spawnReady } from "./fixtures/spawn.ts";

const T1 = "2026-11-26T19:00:00Z";
const T2 = "2026-11-27T19:00:00Z";
const T3 = "2026-11-28T19:00:00Z";
const snap = (time: string, group = vm100): SnapshotRef => ({ ...group, time });

async function error(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => null,
    (x) => x,
  );
  expect(e).toBeInstanceOf(Error);
  return e as Error;
}

describe("snapshot visibility", () => {
  test("a snapshot is invisible until commit, then listed, readable and in the catalog", () =>
    withDatastore(async (ds) => {
      const data = pseudoRandom(30_000, 3);
      const idx = new DynamicIndexWriter();
      for (let off = 0; off < data.length; off += 8192) {
        const piece = data.subarray(off, off + 8192);
        await ds.insertChunk(sha256Hex(piece), encodeBlob(piece));
        idx.addChunk(piece.length, sha256Hex(piece));
      }
      const w = await ds.snapshots.begin(vm100, T1, { owner: "alice@pbs" });
      await w.addFile("root.pxar.didx", idx.finish());
      await w.addFile("conf.blob", encodeBlob(new TextEncoder().encode("cfg")));
      expect(await ds.snapshots.list(vm100)).toEqual([]);
      expect((await ds.snapshots.list(vm100, { includeIncomplete: true }))[0]!.complete).toBe(false);
      expect(ds.catalog.listSnapshots()).toEqual([]);
      expect((await error(ds.snapshots.readManifest(snap(T1)))).message).toContain("does not exist");

      const manifest = await w.commit();
      expect(manifest.files.map((f) => f.filename)).toEqual(["conf.blob", "root.pxar.didx"]);
      const listed = await ds.snapshots.list(vm100);
      expect(listed.map((s) => s.ref.time)).toEqual([T1]);
      expect(ds.catalog.listSnapshots()).toMatchObject([{ type: "vm", id: "100", time: T1, fileCount: 2, logicalBytes: 30_000 + 15, storedBytes: 96 + 4 * 40 + 15 }]);
      expect(ds.catalog.pendingOps()).toEqual([]);

      const reader = await ds.snapshots.openReader(snap(T1));
      const index = await reader.openIndex("root.pxar.didx");
      const parts: Uint8Array[] = [];
      for (const d of index.digests()) parts.push(await ds.readChunk(d));
      expect(Buffer.concat(parts)).toEqual(Buffer.from(data));
      expect(new TextDecoder().decode(await reader.readBlob("conf.blob"))).toBe("cfg");
      reader.release();
      expect(await ds.groups.getOwner(vm100)).toBe("alice@pbs");
    }));

  test("abort removes the partial snapshot; commit refuses an empty snapshot and missing chunks", () =>
    withDatastore(async (ds) => {
      const w = await ds.snapshots.begin(vm100, T1, { owner: "root@pam" });
      await w.addFile("a.blob", encodeBlob(new Uint8Array([1, 2, 3])));
      await w.abort();
      expect(await ds.snapshots.list(vm100, { includeIncomplete: true })).toEqual([]);

      const empty = await ds.snapshots.begin(vm100, T1, { owner: "root@pam" });
      expect((await error(empty.commit())).message).toContain("no files were added");
      expect(empty.isOpen).toBe(false);

      const idx = new DynamicIndexWriter();
      idx.addChunk(10, sha256Hex(new Uint8Array(10)));
      const w2 = await ds.snapshots.begin(vm100, T1, { owner: "root@pam" });
      await w2.addFile("root.didx", idx.finish());
      const err = await error(w2.commit());
      expect(err.message).toMatch(/references chunk [0-9a-f]{12}… which is not in the datastore/);
      expect(await ds.snapshots.list(vm100, { includeIncomplete: true })).toEqual([]);
      // the group is free again after the failed commit
      await backup(ds, { group: vm100, time: T1, data: pseudoRandom(100, 1) });
    }));

  test("corrupt files are refused on add; a file changed after commit is caught on read", () =>
    withDatastore(async (ds) => {
      const w = await ds.snapshots.begin(vm100, T1, { owner: "root@pam" });
      expect(await error(w.addFile("x.didx", new Uint8Array(50)))).toBeInstanceOf(CorruptError);
      const blob = encodeBlob(new TextEncoder().encode("hello"));
      blob[blob.length - 1]! ^= 1;
      expect((await error(w.addFile("x.blob", blob))).message).toContain("CRC32 mismatch");
      expect((await error(w.addFile("../evil.blob", encodeBlob(new Uint8Array(1))))).message).toContain("file name '../evil.blob' is invalid");
      expect((await error(w.addFile("index.json.blob", encodeBlob(new Uint8Array(1))))).message).toContain("reserved");
      await w.abort();

      await backup(ds, { group: vm100, time: T1, data: pseudoRandom(100, 2) });
      const key = `vm/100/${T1}/qemu-server.conf.blob`;
      await ds.backend.put(key, encodeBlob(new TextEncoder().encode("tampered")));
      const reader = await ds.snapshots.openReader(snap(T1));
      expect((await error(reader.readFile("qemu-server.conf.blob"))).message).toContain("differs from the manifest");
      reader.release();
    }));
});

describe("group locking and ownership", () => {
  test("a second writer on the same group is refused with a clear message; other groups proceed", () =>
    withDatastore(async (ds) => {
      const w = await ds.snapshots.begin(vm100, T1, { owner: "root@pam" });
      const err = await error(ds.snapshots.begin(vm100, T2, { owner: "root@pam" }));
      expect(err).toBeInstanceOf(LockedError);
      expect(err.message).toBe(`backup group vm/100 is locked by pid ${process.pid} (backup, since ${err.message.match(/since (\S+)\)/)![1]}): another backup of this group is running`);
      const other = await ds.snapshots.begin({ ns: [], type: "ct", id: "100" }, T1, { owner: "root@pam" });
      await other.abort();
      await w.addFile("a.blob", encodeBlob(new Uint8Array([1])));
      await w.commit();
      const next = await ds.snapshots.begin(vm100, T2, { owner: "root@pam" });
      await next.abort();
    }));

  test("a writer killed with SIGKILL leaves no lock: the next writer proceeds and removes its leftovers", () =>
    withDatastore(async (ds, dir) => {
      const child = await spawnReady(`${import.meta.dir}/fixtures/hold-group.ts`, [dir, T1]);
      const refused = await error(ds.snapshots.begin(vm100, T2, { owner: "root@pam" }));
      expect(refused.message).toContain(`locked by pid ${child.pid} (backup`);
      child.kill("SIGKILL");
      await child.exited;
      expect((await ds.snapshots.list(vm100, { includeIncomplete: true })).map((s) => s.ref.time)).toEqual([T1]);
      await backup(ds, { group: vm100, time: T2, data: pseudoRandom(5000, 9) });
      const all = await ds.snapshots.list(vm100, { includeIncomplete: true });
      expect(all.map((s) => [s.ref.time, s.complete])).toEqual([[T2, true]]);
    }));

  test("backup time must be newer than the last snapshot; owner must match", () =>
    withDatastore(async (ds) => {
      await backup(ds, { group: vm100, time: T2, data: pseudoRandom(100, 1), owner: "alice@pbs" });
      const older = await error(ds.snapshots.begin(vm100, T1, { owner: "alice@pbs" }));
      expect(older.message).toBe(`backup time ${T1} is not newer than the last snapshot ${T2} of vm/100`);
      expect((await error(ds.snapshots.begin(vm100, T2, { owner: "alice@pbs" }))).message).toContain("not newer");
      const stranger = await error(ds.snapshots.begin(vm100, T3, { owner: "mallory@pbs" }));
      expect(stranger.message).toBe("backup group vm/100 belongs to 'alice@pbs'; 'mallory@pbs' may not add snapshots to it");
      await ds.groups.setOwner(vm100, "mallory@pbs");
      await backup(ds, { group: vm100, time: T3, data: pseudoRandom(100, 1), owner: "mallory@pbs" });
    }));
});

describe("forget, protection, notes, verify state", () => {
  test("forget removes the snapshot; protected and in-use snapshots are refused", () =>
    withDatastore(async (ds) => {
      await backup(ds, { group: vm100, time: T1, data: pseudoRandom(100, 1) });
      await backup(ds, { group: vm100, time: T2, data: pseudoRandom(100, 2) });
      await ds.snapshots.setProtected(snap(T1), true);
      expect(await ds.snapshots.isProtected(snap(T1))).toBe(true);
      expect(ds.catalog.listSnapshots()[0]!.protected).toBe(true);
      expect((await error(ds.snapshots.forget(snap(T1)))).message).toBe(`snapshot vm/100/${T1} is protected`);

      const reader = await ds.snapshots.openReader(snap(T2));
      const busy = await error(ds.snapshots.forget(snap(T2)));
      expect(busy).toBeInstanceOf(LockedError);
      expect(busy.message).toContain("is in use");
      reader.release();

      await ds.snapshots.forget(snap(T2));
      await ds.snapshots.setProtected(snap(T1), false);
      await ds.snapshots.forget(snap(T1));
      expect(await ds.snapshots.list(vm100, { includeIncomplete: true })).toEqual([]);
      expect(ds.catalog.listSnapshots()).toEqual([]);
      expect((await error(ds.snapshots.forget(snap(T1)))).message).toContain("does not exist");
    }));

  test("notes and verify state live in the unprotected part: the signature stays valid", () =>
    withDatastore(async (ds) => {
      const key = new Uint8Array(randomBytes(32));
      const signKey = new Uint8Array(randomBytes(32));
      const digestKey = new Uint8Array(randomBytes(32));
      await backup(ds, {
        group: vm100,
        time: T1,
        data: pseudoRandom(20_000, 5),
        cipher: { keyId: 1, key },
        digestKey,
        commit: { keyFingerprint: "aa:bb:cc:dd:ee:ff:00:11", signKey },
      });
      await ds.snapshots.setNotes(snap(T1), "before the upgrade");
      await ds.snapshots.setVerifyState(snap(T1), { state: "ok", upid: "UPID:node:1:2:3:4:verify:x:root@pam:", time: 1_800_000_000 });
      const { manifest } = await ds.snapshots.readManifest(snap(T1));
      expect(manifest.unprotected).toMatchObject({ notes: "before the upgrade", verify_state: { state: "ok" } });
      verifyManifestSignature(manifest, signKey);
      expect(() => verifyManifestSignature({ ...manifest, backup_id: "101" }, signKey)).toThrow("signature does not match");
      expect(() => verifyManifestSignature(manifest, new Uint8Array(32))).toThrow(CorruptError);
      expect(ds.catalog.listSnapshots()[0]).toMatchObject({ notes: "before the upgrade", verifyState: "ok", cryptMode: "encrypt" });
    }));
});

describe("client-built manifests", () => {
  test("a matching client manifest is accepted; one that disagrees with the uploads is refused", () =>
    withDatastore(async (ds) => {
      const conf = encodeBlob(new TextEncoder().encode("conf"));
      const w = await ds.snapshots.begin(vm100, T1, { owner: "root@pam" });
      await w.addFile("conf.blob", conf);
      const wrong = createManifest({ snapshot: snap(T1), files: [describeFile("conf.blob", encodeBlob(new TextEncoder().encode("other")), "none")] });
      expect((await error(w.commit({ manifest: wrong }))).message).toContain("size or checksum of 'conf.blob' differs");

      const w2 = await ds.snapshots.begin(vm100, T1, { owner: "root@pam" });
      await w2.addFile("conf.blob", conf);
      const right = createManifest({ snapshot: snap(T1), files: [describeFile("conf.blob", conf, "none")] });
      const committed = await w2.commit({ manifest: right, unprotected: { upload_stats: { chunk_count: 0, size: 4, compressed_size: 4, duplicates: 0 } } });
      expect(committed.unprotected.upload_stats?.size).toBe(4);
    }));
});

describe("namespaces", () => {
  test("create nested namespaces, back up into them, list and refuse removing non-empty ones", () =>
    withDatastore(async (ds) => {
      await ds.namespaces.create(["prod", "db"]);
      await ds.namespaces.create(["dev"]);
      const g = { ns: ["prod", "db"], type: "ct" as const, id: "pg-1" };
      await backup(ds, { group: g, time: T1, data: pseudoRandom(100, 1) });
      expect(await ds.backend.stat(`ns/prod/ns/db/ct/pg-1/${T1}/index.json.blob`)).not.toBeNull();
      expect(await ds.namespaces.list()).toEqual([["dev"], ["prod"], ["prod", "db"]]);
      expect(await ds.namespaces.list([], { recursive: false })).toEqual([["dev"], ["prod"]]);
      expect(await ds.namespaces.list(["prod"])).toEqual([["prod", "db"]]);
      expect(await ds.groups.list(["prod", "db"])).toEqual([g]);
      expect(await ds.groups.list()).toEqual([]);
      expect(ds.catalog.listNamespaces()).toEqual([["dev"], ["prod"], ["prod", "db"]]);
      expect((await error(ds.namespaces.remove(["prod"]))).message).toContain("namespace prod is not empty");
      await ds.namespaces.remove(["dev"]);
      expect(await ds.namespaces.list([], { recursive: false })).toEqual([["prod"]]);
      const missing = await error(ds.snapshots.begin({ ns: ["nope"], type: "vm", id: "1" }, T1, { owner: "root@pam" }));
      expect(missing.message).toBe("namespace nope does not exist");
      expect(missing).toBeInstanceOf(DatastoreError);
    }));

  test("group notes round trip", () =>
    withDatastore(async (ds) => {
      await backup(ds, { group: vm100, time: T1, data: pseudoRandom(10, 1) });
      await ds.groups.setNotes(vm100, "web server\nsecond line");
      expect(await ds.groups.getNotes(vm100)).toBe("web server\nsecond line");
      expect(ds.catalog.listGroups()[0]).toMatchObject({ notes: "web server\nsecond line", owner: "root@pam", snapshotCount: 1, lastBackup: T1 });
      await ds.groups.setNotes(vm100, null);
      expect(await ds.groups.getNotes(vm100)).toBeNull();
    }));
});

test("keyed digests: the same data under another digest key is another chunk", () => {
  const data = pseudoRandom(100, 1);
  expect(chunkDigest(data, new Uint8Array(32))).not.toBe(chunkDigest(data, new Uint8Array(32).fill(1)));
});
