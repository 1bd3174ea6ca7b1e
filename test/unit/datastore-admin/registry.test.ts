import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDatastore } from "../../../src/datastore/admin/create.ts";
import { listDatastores, requireDatastore } from "../../../src/datastore/admin/registry.ts";
import { removeDatastore } from "../../../src/datastore/admin/remove.ts";
import { quarantineDatastore } from "../../../src/datastore/admin/modes.ts";
import { listDatastoreInfo } from "../../../src/datastore/admin/show.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { DATASTORE_FORMAT_VERSION } from "../../../src/datastore/datastore-config.ts";
import { vm100 } from "../datastore/helpers.ts";
import { insertTask, type Scratch, scratch, thrown } from "./helpers.ts";

let s: Scratch;
beforeEach(() => (s = scratch()));
afterEach(() => s.cleanup());

describe("datastore create", () => {
  test("prepares the directory (config with format version, catalog, chunk dir, locks) and registers it", async () => {
    const path = join(s.root, "stores", "store1");
    const r = await createDatastore(s.db, { name: "store1", path, comment: "first" });
    expect(r.created).toBe(true);
    const config = JSON.parse(readFileSync(join(path, ".ibs", "datastore.json"), "utf8"));
    expect(config.format_version).toBe(DATASTORE_FORMAT_VERSION);
    expect(config.mode).toBe("online");
    for (const p of [".ibs/catalog.db", ".ibs/locks", ".chunks"]) expect(existsSync(join(path, p))).toBe(true);
    expect(requireDatastore(s.db, "store1")).toMatchObject({ name: "store1", path, backend: "local", storeId: config.id, comment: "first" });
  });

  test("accepts a fresh filesystem's lost+found, refuses any other content", async () => {
    const fresh = join(s.root, "fresh");
    mkdirSync(join(fresh, "lost+found"), { recursive: true });
    expect((await createDatastore(s.db, { name: "fresh", path: fresh })).created).toBe(true);
    const used = join(s.root, "used");
    mkdirSync(used);
    writeFileSync(join(used, "photo.jpg"), "x");
    const err = await thrown(() => createDatastore(s.db, { name: "used", path: used }));
    expect(err.message).toContain("not empty (holds photo.jpg)");
    expect(listDatastores(s.db).map((d) => d.name)).toEqual(["fresh"]);
  });

  test("refuses a taken name, a taken path and nesting in either direction (also through a symlink)", async () => {
    const a = join(s.root, "a");
    await createDatastore(s.db, { name: "store-a", path: a });
    expect((await thrown(() => createDatastore(s.db, { name: "store-a", path: join(s.root, "b") }))).message).toContain("already exists");
    expect((await thrown(() => createDatastore(s.db, { name: "other", path: a + "/" }))).message).toContain("already the path of datastore 'store-a'");
    expect((await thrown(() => createDatastore(s.db, { name: "inner", path: join(a, "inner") }))).message).toContain("nests with datastore 'store-a'");
    expect((await thrown(() => createDatastore(s.db, { name: "outer", path: s.root }))).message).toContain("nests with datastore 'store-a'");
    symlinkSync(a, join(s.root, "alias"));
    const err = await thrown(() => createDatastore(s.db, { name: "alias", path: join(s.root, "alias", "x") }));
    expect(err.message).toContain("nests with datastore 'store-a'");
    expect(err.httpStatus).toBe(409);
  });

  test("a path holding an IBS datastore is refused, adopted with reuse (same id), never twice", async () => {
    const path = join(s.root, "old");
    const ds = await Datastore.create(path);
    const id = ds.id;
    await ds.namespaces.create(["kept"]);
    ds.close();
    const refused = await thrown(() => createDatastore(s.db, { name: "old", path }));
    expect(refused.message).toContain(`already holds an IBS datastore (id ${id})`);
    expect(refused.hint).toContain("--reuse");
    const adopted = await createDatastore(s.db, { name: "old", path, reuse: true });
    expect(adopted.created).toBe(false);
    expect(adopted.datastore.storeId).toBe(id);
    expect(existsSync(join(path, "ns", "kept", ".namespace"))).toBe(true);
    await removeDatastore(s.db, "old");
    await createDatastore(s.db, { name: "renamed", path, reuse: true });
    expect((await thrown(() => createDatastore(s.db, { name: "nothing", path: join(s.root, "empty"), reuse: true }))).message).toContain("nothing to reuse");
  });

  test("a path inside an unregistered IBS datastore is refused", async () => {
    (await Datastore.create(join(s.root, "loose"))).close();
    expect((await thrown(() => createDatastore(s.db, { name: "nested", path: join(s.root, "loose", "sub") }))).message).toContain("lies inside the IBS datastore");
  });
});

describe("datastore remove", () => {
  test("unregisters and keeps the data by default; --destroy-data deletes IBS's entries only", async () => {
    const path = join(s.root, "s1");
    await createDatastore(s.db, { name: "st1", path });
    const r = await removeDatastore(s.db, "st1");
    expect(r.destroyed).toBe(false);
    expect(listDatastores(s.db)).toEqual([]);
    expect(existsSync(join(path, ".ibs", "datastore.json"))).toBe(true);

    await createDatastore(s.db, { name: "st1", path, reuse: true });
    writeFileSync(join(path, "README.admin"), "not IBS's");
    const d = await removeDatastore(s.db, "st1", { destroyData: true });
    expect(d).toMatchObject({ destroyed: true, leftovers: ["README.admin"] });
    expect(existsSync(join(path, ".ibs"))).toBe(false);
    expect(existsSync(join(path, ".chunks"))).toBe(false);
    expect(existsSync(join(path, "README.admin"))).toBe(true);
  });

  test("refused while a task is queued or running on the store; finished tasks and other stores do not count", async () => {
    await createDatastore(s.db, { name: "busy", path: join(s.root, "busy") });
    insertTask(s.db, { upid: "UPID:n1:1:1:1:1:gc:busy-other:root@pam:", type: "gc", workerId: "busy-other", status: "running" });
    insertTask(s.db, { upid: "UPID:n1:1:1:2:1:gc:busy:root@pam:", type: "gc", workerId: "busy", status: "finished", result: "OK", endedAt: Date.now() });
    insertTask(s.db, { upid: "UPID:n1:1:1:3:1:backup:busy\\x3avm-100:root@pam:", type: "backup", workerId: "busy:vm/100", status: "queued" });
    const err = await thrown(() => removeDatastore(s.db, "busy"));
    expect(err.message).toBe("datastore busy is in use: task UPID:n1:1:1:3:1:backup:busy\\x3avm-100:root@pam: (backup, queued)");
    expect(err.httpStatus).toBe(409);
    s.db.$client.exec("UPDATE tasks SET status = 'finished' WHERE type = 'backup'");
    await removeDatastore(s.db, "busy");
  });

  test("refused while a lock of the store is held (a backup writing), allowed once released", async () => {
    const path = join(s.root, "locked");
    await createDatastore(s.db, { name: "locked", path });
    const ds = await Datastore.open(path);
    const writer = await ds.snapshots.begin(vm100, "2026-11-26T19:00:00Z", { owner: "root@pam" });
    try {
      const err = await thrown(() => removeDatastore(s.db, "locked", { destroyData: true }));
      expect(err.message).toMatch(/datastore locked is in use: lock vm\/100\/group\.lck held by pid \d+ \(backup\)/);
      expect(existsSync(join(path, ".ibs", "datastore.json"))).toBe(true);
    } finally {
      await writer.abort();
      ds.close();
    }
    expect((await removeDatastore(s.db, "locked", { destroyData: true })).destroyed).toBe(true);
  });

  test("refused while scheduled jobs name the store", async () => {
    await createDatastore(s.db, { name: "jobbed", path: join(s.root, "jobbed") });
    s.db.$client.query("INSERT INTO jobs (id, type, schedule, store, created_at, updated_at, last_due) VALUES ('gc-jobbed', 'gc', 'daily', 'jobbed', 0, 0, 0)").run();
    expect((await thrown(() => removeDatastore(s.db, "jobbed"))).message).toBe("datastore jobbed is used by scheduled job gc-jobbed");
  });

  test("destroying data is refused while quarantined and when another disk (different id) is mounted there", async () => {
    const path = join(s.root, "q");
    await createDatastore(s.db, { name: "qqq", path });
    await quarantineDatastore(s.db, "qqq", "ransomware suspected");
    const err = await thrown(() => removeDatastore(s.db, "qqq", { destroyData: true }));
    expect(err.message).toContain("quarantined (reason: ransomware suspected): refusing to destroy its data");

    const other = join(s.root, "w");
    await createDatastore(s.db, { name: "www", path: other });
    // Simulate a different disk at the path: replace the datastore there by a new one.
    rmSync(other, { recursive: true });
    (await Datastore.create(other)).close();
    expect((await thrown(() => removeDatastore(s.db, "www", { destroyData: true }))).message).toContain("holds a different datastore");
    expect(existsSync(join(other, ".ibs", "datastore.json"))).toBe(true);
    expect(listDatastoreInfo(s.db).find((d) => d.name === "www")).toMatchObject({ available: false });
  });
});
