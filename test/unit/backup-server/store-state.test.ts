/**
 * The datastore's state as a session meets it: a quarantined store refuses backups with the
 * reason (restores still work), a quarantine during a session ends it with nothing visible,
 * and a full filesystem (ENOSPC on a real tmpfs when this process may mount one, else a
 * backend that reports ENOSPC, clearly named) gives a 507 naming the datastore and
 * "no space left", and no snapshot.
 */
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDatastore } from "../../../src/datastore/admin/create.ts";
import { quarantineDatastore, releaseDatastore } from "../../../src/datastore/admin/modes.ts";
import { BackendIoError } from "../../../src/datastore/backends/backend.ts";
import { LocalBackend } from "../../../src/datastore/backends/local.ts";
import { requireTask } from "../../../src/tasks/queue.ts";
import { taskEnv } from "../../../src/tasks/env.ts";
import { backup, call, randomChunk, refused, timeAt, type Transport } from "./protocol-driver.ts";
import { unitNode, type UnitNode } from "./node-fixture.ts";

let node: UnitNode;
let alice: Transport;

beforeAll(async () => {
  node = await unitNode();
  alice = await node.user("alice", [{ path: "/datastore", role: "DatastoreBackup" }]);
});
afterAll(() => node.close());

const start = (store: string, id: string, time = 1_800_000_000) => ({ store, backupType: "vm" as const, backupId: id, backupTime: timeAt(time), cryptMode: "none" as const });

describe("datastore modes", () => {
  test("quarantined: a backup is refused naming the reason; restore still works; a quarantine mid-session ends it", async () => {
    const { finished } = await backup(alice, start("store1", "1"), [randomChunk(100)]);
    const s = await call(alice, "POST", "/backup", start("store1", "2"));
    await quarantineDatastore(node.db, "store1", "ransomware suspected");
    const c = randomChunk(100);
    const mid = await refused(call(alice, "POST", `/backup/${s.session}/chunk/${c.digest}`, c.blob));
    expect(mid.status).toBe(409);
    expect(mid.code).toBe("quarantined");
    expect((await refused(call(alice, "POST", `/backup/${s.session}/chunk/${c.digest}`, c.blob))).status).toBe(404);
    expect(requireTask(taskEnv(node.config, node.db), s.upid).result).toContain("is quarantined (reason: ransomware suspected)");

    const e = await refused(call(alice, "POST", "/backup", start("store1", "3")));
    expect(e.status).toBe(409);
    expect(e.code).toBe("quarantined");
    expect(e.message).toContain("datastore store1 is quarantined (reason: ransomware suspected): refusing to start a backup of vm/3");
    const r = await call(alice, "POST", "/reader", { store: "store1", snapshot: finished.snapshot });
    await call(alice, "DELETE", `/reader/${r.session}`);
    await releaseDatastore(node.db, "store1");
    expect(new Set((await call(alice, "GET", "/datastore/store1/snapshots")).map((x: any) => x.id))).toEqual(new Set(["1"]));
  });
});

function mountTmpfs(dir: string, size: string): boolean {
  mkdirSync(dir, { recursive: true });
  return Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stderr: "pipe" }).success;
}

describe("a full datastore", () => {
  test("ENOSPC while storing a chunk: 507 naming the datastore and 'no space left', the session ends, no snapshot", async () => {
    const mnt = mkdtempSync(join(tmpdir(), "ibs-full-"));
    const real = process.getuid?.() === 0 && mountTmpfs(mnt, "1m");
    const original = LocalBackend.prototype.putIfAbsent;
    const spy = real
      ? null
      : // Simulation (no permission to mount): chunk writes fail as on a full filesystem.
        spyOn(LocalBackend.prototype, "putIfAbsent").mockImplementation(async function (this: LocalBackend, key: string, bytes: Uint8Array) {
          if (!key.startsWith(".chunks/")) return original.call(this, key, bytes);
          throw new BackendIoError(this.description, "create", key, Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }));
        });
    try {
      await createDatastore(node.db, { name: "small", path: join(mnt, "store") });
      const s = await call(alice, "POST", "/backup", start("small", "big"));
      let e;
      for (let i = 0; i < 20 && !e; i++) {
        const c = randomChunk(256 * 1024);
        e = await call(alice, "POST", `/backup/${s.session}/chunk/${c.digest}`, c.blob).then(() => undefined, (err) => err);
      }
      expect(e?.status).toBe(507);
      expect(e.code).toBe("insufficient_storage");
      expect(e.message).toContain("datastore small: no space left on device");
      expect(e.details.hint).toContain("gc start small");
      expect(requireTask(taskEnv(node.config, node.db), s.upid).result).toContain("no space left");
      expect((await refused(call(alice, "POST", `/backup/${s.session}/finish`, new Uint8Array(1)))).status).toBe(404);
      expect(await call(alice, "GET", "/datastore/small/snapshots")).toEqual([]);
    } finally {
      spy?.mockRestore();
      if (real) Bun.spawnSync(["umount", "-l", mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});
