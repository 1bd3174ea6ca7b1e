/**
 * A backup session end to end in-process: chunks, index, blob, finish; the snapshot is listed
 * and readable through a reader session; the second backup reuses the previous snapshot's
 * chunks only after downloading its index; the task records the counts and the result.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readTaskLog } from "../../../src/tasks/task-log.ts";
import { requireTask, } from "../../../src/tasks/queue.ts";
import { taskEnv } from "../../../src/tasks/env.ts";
import { backup, call, dynamicIndex, manifestBlob, randomChunk, refused, timeAt, type Transport } from "./protocol-driver.ts";
import { unitNode, type UnitNode } from "./node-fixture.ts";

let node: UnitNode;
let alice: Transport;

beforeAll(async () => {
  node = await unitNode();
  alice = await node.user("alice", [{ path: "/datastore/store1", role: "DatastoreBackup" }]);
});
afterAll(() => node.close());

describe("backup session round trip", () => {
  test("upload, finish, list, restore; the second backup reuses chunks of the first", async () => {
    const chunks = [randomChunk(5000), randomChunk(7000), randomChunk(100)];
    const start = { store: "store1", backupType: "host" as const, backupId: "web1", cryptMode: "none" as const };
    const first = await backup(alice, { ...start, backupTime: timeAt(1_800_000_000) }, chunks, { warnings: 2 });
    expect(first.started.previous).toBeNull();
    expect(first.finished.snapshot).toBe("host/web1/2027-01-15T08:00:00Z");
    expect(first.finished.result).toBe("WARNINGS: 2");

    const env = taskEnv(node.config, node.db);
    const log = readTaskLog(node.config.taskLogDir, first.started.upid);
    expect(log).toContain("uploaded 3 chunks");
    expect(log).toContain("reused 0 chunks");
    expect(log).toContain("TASK WARNINGS: 2");
    expect(requireTask(env, first.started.upid).type).toBe("backup");

    const listed = await call(alice, "GET", "/datastore/store1/snapshots?type=host&id=web1");
    expect(listed.map((s: any) => s.snapshot)).toEqual(["host/web1/2027-01-15T08:00:00Z"]);
    expect(listed[0].owner).toBe("alice@ibs!t");

    // Second backup: one new chunk, two from the previous snapshot (known after its index is downloaded).
    const extra = randomChunk(3000);
    const second = await backup(alice, { ...start, backupTime: timeAt(1_800_000_100) }, [chunks[0]!, chunks[1]!, extra], {
      upload: [extra],
      previousIndex: "root.pxar.didx",
    });
    expect(second.started.previous?.time).toBe("2027-01-15T08:00:00Z");
    expect(second.started.previous?.manifest.files.map((f) => f.filename)).toEqual(["host.conf.blob", "root.pxar.didx"]);
    expect(second.finished.result).toBe("OK");
    const log2 = readTaskLog(node.config.taskLogDir, second.started.upid);
    expect(log2).toContain("uploaded 1 chunks");
    expect(log2).toContain("reused 2 chunks of the previous snapshot");

    // Restore the second snapshot through a reader session.
    const r = await call(alice, "POST", "/reader", { store: "store1", snapshot: second.finished.snapshot });
    expect(r.manifest.backup_time).toBe("2027-01-15T08:01:40Z");
    const indexBytes = await call<Uint8Array>(alice, "GET", `/reader/${r.session}/file/root.pxar.didx`);
    expect(Buffer.from(indexBytes).equals(Buffer.from(second.index))).toBe(true);
    const fetched = await Promise.all([chunks[0]!, chunks[1]!, extra].map((c) => call<Uint8Array>(alice, "GET", `/reader/${r.session}/chunk/${c.digest}`)));
    expect(fetched.map((b) => Buffer.from(b).toString("hex"))).toEqual([chunks[0]!, chunks[1]!, extra].map((c) => Buffer.from(c.blob).toString("hex")));
    // chunks[2] is in the first snapshot only: not in any index this session opened.
    const e = await refused(call(alice, "GET", `/reader/${r.session}/chunk/${chunks[2]!.digest}`));
    expect(e.status).toBe(403);
    expect(e.message).toContain("chunk not referenced by an index opened in this session");
    await call(alice, "DELETE", `/reader/${r.session}`);
    expect(requireTask(env, r.upid).result).toBe("OK");
    expect((await refused(call(alice, "GET", `/reader/${r.session}/file/root.pxar.didx`))).status).toBe(404);
  });

  test("an index naming a chunk neither uploaded nor in the previous snapshot is refused, naming it", async () => {
    const start = { store: "store1", backupType: "host" as const, backupId: "web2", cryptMode: "none" as const };
    const known = randomChunk(1000);
    const unknown = randomChunk(1000);
    // The unknown chunk is even stored (by another session): the allow-list still refuses it.
    await backup(alice, { ...start, backupId: "other", backupTime: timeAt(1_800_000_000) }, [unknown]);
    const s = await call(alice, "POST", "/backup", { ...start, backupTime: timeAt(1_800_000_000) });
    await call(alice, "POST", `/backup/${s.session}/chunk/${known.digest}`, known.blob);
    const e = await refused(call(alice, "POST", `/backup/${s.session}/index/root.pxar.didx`, dynamicIndex([known, unknown])));
    expect(e.status).toBe(400);
    expect(e.code).toBe("unknown_chunk");
    expect(e.message).toContain(unknown.digest);
    // The session is still usable: a correct index and finish work.
    const idx = dynamicIndex([known]);
    await call(alice, "POST", `/backup/${s.session}/index/root.pxar.didx`, idx);
    const done = await call(alice, "POST", `/backup/${s.session}/finish`, manifestBlob(s.snapshot, [{ name: "root.pxar.didx", bytes: idx, cryptMode: "none" }]));
    expect(done.result).toBe("OK");
  });
});
