/**
 * How sessions end without a commit (client DELETE, idle timeout, `task abort`), and what
 * stays: never a visible snapshot; the group is usable again at once. Plus the refusals at
 * start: a second writer of a group, an old backup time, slots all busy.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { requestAbort, requireTask } from "../../../src/tasks/queue.ts";
import { taskEnv } from "../../../src/tasks/env.ts";
import { backup, call, dynamicIndex, randomChunk, refused, timeAt, type Transport } from "./protocol-driver.ts";
import { unitNode, type UnitNode } from "./node-fixture.ts";

const start = (id: string, time = 1_800_000_000) => ({ store: "store1", backupType: "vm" as const, backupId: id, backupTime: timeAt(time), cryptMode: "none" as const });

/** A session with a chunk and an index written, not finished. */
async function halfDone(t: Transport, id: string, time = 1_800_000_000) {
  const s = await call(t, "POST", "/backup", start(id, time));
  const c = randomChunk(800);
  await call(t, "POST", `/backup/${s.session}/chunk/${c.digest}`, c.blob);
  await call(t, "POST", `/backup/${s.session}/index/root.pxar.didx`, dynamicIndex([c]));
  return s;
}

function snapshotDirs(node: UnitNode, id: string): string[] {
  const dir = join(node.storePath, "vm", id);
  return existsSync(dir) ? readdirSync(dir).filter((n) => /^\d{4}-/.test(n)) : [];
}

describe("sessions that end without a commit", () => {
  let node: UnitNode;
  let alice: Transport;
  beforeAll(async () => {
    node = await unitNode({ sessionTimeoutSec: 1 });
    alice = await node.user("alice", [{ path: "/datastore/store1", role: "DatastoreBackup" }]);
  });
  afterAll(() => node.close());

  test("DELETE: nothing visible, the files are gone, the same snapshot can be made at once", async () => {
    const s = await halfDone(alice, "100");
    expect(snapshotDirs(node, "100")).toEqual([timeAt(1_800_000_000)]);
    await call(alice, "DELETE", `/backup/${s.session}`);
    expect(await call(alice, "GET", "/datastore/store1/snapshots?type=vm&id=100")).toEqual([]);
    expect(snapshotDirs(node, "100")).toEqual([]); // files deleted (the local backend drops empty directories)
    expect(requireTask(taskEnv(node.config, node.db), s.upid).result).toBe("aborted by the client (alice@ibs!t)");
    expect((await refused(call(alice, "POST", `/backup/${s.session}/finish`, new Uint8Array(1)))).status).toBe(404);
    const again = await backup(alice, start("100"), [randomChunk(100)]);
    expect(again.finished.result).toBe("OK");
  });

  test("idle timeout: a writer is aborted (its task says why, the group works afterwards), a reader closed OK", async () => {
    const { finished } = await backup(alice, start("300"), [randomChunk(100)]);
    const r = await call(alice, "POST", "/reader", { store: "store1", snapshot: finished.snapshot });
    const s = await halfDone(alice, "200");
    await Bun.sleep(1600);
    const e = await refused(call(alice, "POST", `/backup/${s.session}/index/x.didx`, dynamicIndex([])));
    expect(e.status).toBe(404);
    const env = taskEnv(node.config, node.db);
    expect(requireTask(env, s.upid).result).toContain("backup session idle for");
    expect(await call(alice, "GET", "/datastore/store1/snapshots?type=vm&id=200")).toEqual([]);
    expect((await backup(alice, start("200"), [randomChunk(100)])).finished.result).toBe("OK");
    expect((await refused(call(alice, "GET", `/reader/${r.session}/file/root.pxar.didx`))).status).toBe(404);
    expect(requireTask(env, r.upid).result).toBe("OK");
  });

  test("task abort reaches the session: aborted, nothing visible", async () => {
    const s = await halfDone(alice, "400");
    requestAbort(taskEnv(node.config, node.db), s.upid);
    const env = taskEnv(node.config, node.db);
    for (let i = 0; i < 50 && requireTask(env, s.upid).status !== "finished"; i++) await Bun.sleep(100);
    expect(requireTask(env, s.upid).result).toBe("aborted");
    expect((await refused(call(alice, "POST", `/backup/${s.session}/finish`, new Uint8Array(1)))).status).toBe(404);
    expect(await call(alice, "GET", "/datastore/store1/snapshots?type=vm&id=400")).toEqual([]);
  });
});

describe("refusals at the start", () => {
  let node: UnitNode;
  let alice: Transport;
  beforeAll(async () => {
    node = await unitNode({ slots: 1, queueTimeoutSec: 1 });
    alice = await node.user("alice", [{ path: "/datastore/store1", role: "DatastoreBackup" }]);
  });
  afterAll(() => node.close());

  test("slots=1: a second backup waits, then fails 'all worker slots busy for N s'; a restore needs no slot", async () => {
    const { finished } = await backup(alice, start("500"), [randomChunk(100)]);
    const first = await call(alice, "POST", "/backup", start("600"));
    const t0 = Date.now();
    const e = await refused(call(alice, "POST", "/backup", start("700")));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(e.status).toBe(503);
    expect(e.code).toBe("slots_busy");
    expect(e.message).toMatch(/all worker slots busy for \d+ s/);
    const r = await call(alice, "POST", "/reader", { store: "store1", snapshot: finished.snapshot });
    await call(alice, "DELETE", `/reader/${r.session}`);
    await call(alice, "DELETE", `/backup/${first.session}`);
    expect((await backup(alice, start("700"), [randomChunk(100)])).finished.result).toBe("OK");
  });

  test("a second writer of a group is refused (locked); a time not newer than the last snapshot too", async () => {
    await backup(alice, start("800", 1_800_000_000), [randomChunk(100)]);
    const old = await refused(call(alice, "POST", "/backup", start("800", 1_800_000_000)));
    expect(old.status).toBe(400);
    expect(old.message).toContain("is not newer than the last snapshot");
    const node2 = await unitNode({ slots: 2 });
    try {
      const bob = await node2.user("bob", [{ path: "/datastore/store1", role: "DatastoreBackup" }]);
      const s = await call(bob, "POST", "/backup", start("900", 1_800_000_000));
      const locked = await refused(call(bob, "POST", "/backup", start("900", 1_800_000_100)));
      expect(locked.status).toBe(409);
      expect(locked.code).toBe("locked");
      expect(locked.message).toContain("another backup of this group is running");
      await call(bob, "DELETE", `/backup/${s.session}`);
    } finally {
      await node2.close();
    }
  });
});
