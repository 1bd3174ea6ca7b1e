import { afterEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { tasks } from "../../../src/state/schema/index.ts";
import { immediate } from "../../../src/tasks/env.ts";
import { claimNextTask, enqueueTask, expireQueuedTasks, finishTask, getTask, renewLease, requestAbort, requireTask, type TaskRequest } from "../../../src/tasks/queue.ts";
import { acquireSlot, slotUsage, waitForSlot } from "../../../src/tasks/slots.ts";
import { readTaskLog } from "../../../src/tasks/task-log.ts";
import { parseUpid } from "../../../src/tasks/upid.ts";
import { testNode, type TestNode } from "./tasks-test-helpers.ts";

const nodes: TestNode[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) n.close();
});
function node(opts?: { slots?: number; queueTimeoutSec?: number }): TestNode {
  const n = testNode(opts);
  nodes.push(n);
  return n;
}

const selftest = (extra: Partial<TaskRequest> = {}): TaskRequest => ({ type: "selftest", authId: "root@pam", needsSlot: true, params: { seconds: 1 }, ...extra });

describe("enqueue", () => {
  test("gives each task a Proxmox UPID naming its creator, and a log whose first line says queued", () => {
    const n = node();
    const env = n.env({ pid: 4321, pstart: 777 });
    const a = enqueueTask(env, selftest({ workerId: "store1:vm/100" }), { now: Date.UTC(2026, 0, 2, 3, 4, 5) });
    const b = enqueueTask(env, selftest());
    expect(a.upid).toBe("UPID:testnode:000010E1:00000309:00000001:695735A5:selftest:store1\\x3avm-100:root@pam:");
    expect(parseUpid(b.upid).taskId).toBe(2);
    expect(a.status).toBe("queued");
    expect(readTaskLog(n.config.taskLogDir, a.upid)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d: queued selftest on store1:vm\/100 by root@pam/);
  });

  test("an unknown or malformed UPID is a clear error", () => {
    const env = node().env();
    expect(() => requireTask(env, "UPID:testnode:00000001:00000001:00000009:69573615:selftest::root@pam:")).toThrow(/not found in the state database of node testnode/);
    expect(() => requireTask(env, "nonsense")).toThrow(/invalid UPID/);
  });
});

describe("claims and slots", () => {
  test("N tasks, M slots, three claiming processes: never more than M running, FIFO order", () => {
    const n = node({ slots: 3 });
    const procs = [101, 102, 103].map((pid) => n.env({ pid, pstart: pid }));
    const queued = Array.from({ length: 10 }, () => enqueueTask(procs[0], selftest()).id);
    const startedOrder: number[] = [];
    const running = new Map<number, number>(); // task id -> owning process index
    let maxRunning = 0;
    for (let round = 0; startedOrder.length < queued.length && round < 100; round++) {
      for (let p = 0; p < procs.length; p++) {
        const row = claimNextTask(procs[p], ["selftest"], { slots: 3, allowUnslotted: true });
        if (row) {
          startedOrder.push(row.id);
          running.set(row.id, p);
          expect(row.execPid).toBe(procs[p].self.pid);
        }
        maxRunning = Math.max(maxRunning, running.size);
        const counted = n.env().db.select().from(tasks).all().filter((t) => t.status === "running").length;
        expect(counted).toBeLessThanOrEqual(3);
      }
      // finish the oldest running task, by the process that runs it
      const [first] = running;
      if (first) {
        const [id, p] = first;
        expect(finishTask(procs[p], getTaskById(n, id), "OK", { executor: procs[p].self })).toBe(true);
        running.delete(id);
      }
    }
    expect(startedOrder).toEqual(queued);
    expect(maxRunning).toBe(3);
    expect(slotUsage(procs[0]).busy).toBe(running.size);
  });

  test("the database refuses a second running task in the same slot", () => {
    const n = node({ slots: 1 });
    const env = n.env();
    enqueueTask(env, selftest());
    const b = enqueueTask(env, selftest());
    const a = claimNextTask(env, ["selftest"], { slots: 1, allowUnslotted: false })!;
    expect(a.slot).toBe(0);
    expect(() => env.db.update(tasks).set({ status: "running", slot: 0, execNode: "testnode", execPid: 1 }).where(eqUpid(b.upid)).run()).toThrow(/UNIQUE/);
  });

  test("a claimer with more slots configured can use them, one with fewer cannot exceed its own", () => {
    const n = node();
    const env = n.env();
    for (let i = 0; i < 4; i++) enqueueTask(env, selftest());
    expect(claimNextTask(env, ["selftest"], { slots: 1, allowUnslotted: false })).not.toBeNull();
    expect(claimNextTask(env, ["selftest"], { slots: 1, allowUnslotted: false })).toBeNull();
    expect(claimNextTask(env, ["selftest"], { slots: 2, allowUnslotted: false })?.slot).toBe(1);
  });

  test("tasks without a slot run beside slotted ones only when the claimer allows; other types are left alone", () => {
    const env = node({ slots: 1 }).env();
    enqueueTask(env, selftest());
    enqueueTask(env, selftest());
    enqueueTask(env, { type: "light", authId: "root@pam", needsSlot: false });
    enqueueTask(env, { type: "other", authId: "root@pam", needsSlot: true });
    expect(claimNextTask(env, ["selftest", "light"], { slots: 1, allowUnslotted: false })!.type).toBe("selftest");
    expect(claimNextTask(env, ["selftest", "light"], { slots: 1, allowUnslotted: false })).toBeNull();
    const light = claimNextTask(env, ["selftest", "light"], { slots: 1, allowUnslotted: true })!;
    expect(light.type).toBe("light");
    expect(light.slot).toBeNull();
    expect(claimNextTask(env, ["selftest", "light"], { slots: 1, allowUnslotted: true })).toBeNull();
  });

  test("an owned task waiting for a slot goes before younger queued tasks", async () => {
    const n = node({ slots: 1 });
    const worker = n.env({ pid: 201, pstart: 201 });
    const api = n.env();
    enqueueTask(worker, selftest());
    const first = claimNextTask(worker, ["selftest"], { slots: 1, allowUnslotted: false })!;
    const owned = enqueueTask(api, selftest({ type: "backup" }), { owned: true });
    enqueueTask(worker, selftest());
    expect(acquireSlot(api, owned.upid)).toBeNull();
    finishTask(worker, first.upid, "OK");
    // the slot is free, but the worker must leave it to the older owned task
    expect(claimNextTask(worker, ["selftest"], { slots: 1, allowUnslotted: false })).toBeNull();
    const got = await waitForSlot(api, owned.upid, { pollMs: 10 });
    expect(got.status).toBe("running");
    expect(got.slot).toBe(0);
  });

  test("an owned task that finds no slot in time fails with 'all worker slots busy for N s'", async () => {
    const n = node({ slots: 1, queueTimeoutSec: 1 });
    const env = n.env();
    enqueueTask(env, selftest());
    claimNextTask(env, ["selftest"], { slots: 1, allowUnslotted: false });
    const owned = enqueueTask(env, selftest({ type: "backup" }), { owned: true });
    const t0 = Date.now();
    await expect(waitForSlot(env, owned.upid, { pollMs: 50 })).rejects.toThrow(/^all worker slots busy for 1 s$/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  test("queued tasks past worker.queue_timeout fail with 'all worker slots busy for N s' only while all slots are busy", () => {
    const n = node({ slots: 1, queueTimeoutSec: 30 });
    const env = n.env();
    const t0 = Date.now() - 45_000;
    const a = enqueueTask(env, selftest(), { now: t0 });
    const b = enqueueTask(env, selftest(), { now: t0 });
    const young = enqueueTask(env, selftest());
    // a slot is free: nothing expires, the old task is simply claimed
    expect(expireQueuedTasks(env, ["selftest"])).toEqual([]);
    expect(claimNextTask(env, ["selftest"], { slots: 1, allowUnslotted: false })!.upid).toBe(a.upid);
    const expired = expireQueuedTasks(env, ["selftest"]);
    expect(expired.map((t) => t.upid)).toEqual([b.upid]);
    expect(getTask(env, b.upid)!.result).toBe("all worker slots busy for 45 s");
    expect(getTask(env, young.upid)!.status).toBe("queued");
    expect(readTaskLog(n.config.taskLogDir, b.upid)).toMatch(/TASK ERROR: all worker slots busy for 45 s\n$/);
  });
});

describe("lease, finish, abort", () => {
  test("renewing reports the abort flag; finishing twice or by another executor does nothing", () => {
    const n = node();
    const env = n.env();
    const other = n.env({ pid: 999, pstart: 1 });
    const q = enqueueTask(env, selftest());
    const row = claimNextTask(env, ["selftest"], { slots: 2, allowUnslotted: false })!;
    expect(renewLease(env, q.upid, { done: 1, total: 4, unit: "s", rate: 1 })).toEqual({ held: true, abortRequested: false });
    expect(renewLease(other, q.upid, null).held).toBe(false);
    expect(requestAbort(other, q.upid)).toBe("requested");
    expect(renewLease(env, q.upid, null)).toEqual({ held: true, abortRequested: true });
    expect(finishTask(other, row.upid, "OK", { executor: other.self })).toBe(false);
    expect(finishTask(env, row.upid, "aborted", { executor: env.self })).toBe(true);
    expect(finishTask(env, row.upid, "OK")).toBe(false);
    const done = getTask(env, row.upid)!;
    expect([done.status, done.result, done.progressDone, done.progressTotal]).toEqual(["finished", "aborted", 1, 4]);
    expect(() => requestAbort(env, row.upid)).toThrow(/has already ended: aborted/);
  });

  test("aborting a queued task ends it at once", () => {
    const n = node();
    const env = n.env();
    const q = enqueueTask(env, selftest());
    expect(requestAbort(env, q.upid)).toBe("aborted");
    expect(getTask(env, q.upid)!.result).toBe("aborted");
    expect(claimNextTask(env, ["selftest"], { slots: 2, allowUnslotted: true })).toBeNull();
    expect(readTaskLog(n.config.taskLogDir, q.upid)).toContain("TASK ERROR: aborted");
  });

  test("immediate() transactions from two connections serialise", () => {
    const n = node();
    const a = n.env();
    const b = n.env();
    immediate(a, () => {
      // b cannot take the write lock while a holds it (busy timeout shortened for the test)
      b.db.$client.exec("PRAGMA busy_timeout = 50");
      expect(() => immediate(b, () => 1)).toThrow(/locked|busy/i);
    });
    expect(immediate(b, () => 2)).toBe(2);
  });
});

const eqUpid = (upid: string) => eq(tasks.upid, upid);
function getTaskById(n: TestNode, id: number): string {
  return n.env().db.select().from(tasks).where(eq(tasks.id, id)).get()!.upid;
}
