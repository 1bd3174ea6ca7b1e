import { afterEach, describe, expect, test } from "bun:test";
import { claimNextTask, enqueueTask, getTask, requestAbort } from "../../../src/tasks/queue.ts";
import { recoverDeadTasks } from "../../../src/tasks/recovery.ts";
import { runLocalTask, runTask, type TaskHandler } from "../../../src/tasks/runner.ts";
import { submitTask } from "../../../src/tasks/submit.ts";
import { followTaskLog, readTaskLog } from "../../../src/tasks/task-log.ts";
import { deadPid, testNode, type TestNode } from "./tasks-test-helpers.ts";

const nodes: TestNode[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) n.close();
});
function node(opts?: { slots?: number; queueTimeoutSec?: number }): TestNode {
  const n = testNode(opts);
  nodes.push(n);
  return n;
}

async function runOne(n: TestNode, handler: TaskHandler, type = "unit") {
  const env = n.env();
  const q = enqueueTask(env, { type, authId: "root@pam", needsSlot: true, params: { n: 3 } });
  const row = claimNextTask(env, [type], { slots: 2, allowUnslotted: false })!;
  const result = await runTask(env, row, handler);
  return { env, upid: q.upid, result, row: getTask(env, q.upid)!, log: readTaskLog(n.config.taskLogDir, q.upid) };
}

describe("runTask", () => {
  test("OK: log lines with timestamps, progress stored, slot released", async () => {
    const n = node();
    const r = await runOne(n, async (ctx) => {
      ctx.log(`working on ${ctx.params.n} things`);
      ctx.progress(3, 3, "things");
    });
    expect(r.result).toBe("OK");
    expect([r.row.status, r.row.result, r.row.progressDone, r.row.progressUnit]).toEqual(["finished", "OK", 3, "things"]);
    expect(r.row.endedAt).toBeGreaterThanOrEqual(r.row.startedAt!);
    const lines = r.log.trimEnd().split("\n");
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d: /);
    expect(lines.at(-2)).toContain(": working on 3 things");
    expect(lines.at(-1)).toEndWith(": TASK OK");
  });

  test("warnings make 'WARNINGS: N'", async () => {
    const r = await runOne(node(), async (ctx) => {
      ctx.warn("file /etc/x changed while it was read");
      ctx.warn("exclude pattern '*.tmp' matched nothing");
    });
    expect(r.result).toBe("WARNINGS: 2");
    expect(r.row.warnings).toBe(2);
    expect(r.log).toContain("WARN: file /etc/x changed while it was read");
    expect(r.log.trimEnd()).toEndWith("TASK WARNINGS: 2");
  });

  test("an error ends the task with its text, on one line", async () => {
    const r = await runOne(node(), async () => {
      throw new Error("chunk ab12: CRC32 mismatch\n(stored 0x1, computed 0x2)");
    });
    expect(r.result).toBe("chunk ab12: CRC32 mismatch (stored 0x1, computed 0x2)");
    expect(r.log.trimEnd()).toEndWith("TASK ERROR: chunk ab12: CRC32 mismatch (stored 0x1, computed 0x2)");
  });

  test("task abort stops the handler at its next safe point and the task ends 'aborted'", async () => {
    const n = node();
    const env = n.env();
    const q = enqueueTask(env, { type: "unit", authId: "root@pam", needsSlot: true });
    const row = claimNextTask(env, ["unit"], { slots: 2, allowUnslotted: false })!;
    let steps = 0;
    const running = runTask(env, row, async (ctx) => {
      for (;;) {
        await ctx.sleep(100);
        steps++;
      }
    });
    await Bun.sleep(300);
    expect(requestAbort(n.env(), q.upid)).toBe("requested");
    const t0 = Date.now();
    expect(await running).toBe("aborted");
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(steps).toBeGreaterThan(1);
    const log = readTaskLog(n.config.taskLogDir, q.upid);
    expect(log).toContain("received abort request");
    expect(log.trimEnd()).toEndWith("TASK ERROR: aborted");
  });

  test("a task declared dead meanwhile keeps its recorded failure", async () => {
    const n = node();
    const env = n.env();
    const q = enqueueTask(env, { type: "unit", authId: "root@pam", needsSlot: true });
    const row = claimNextTask(env, ["unit"], { slots: 2, allowUnslotted: false })!;
    // another process wrongly decides we are dead (e.g. our lease ran out while we hung)
    env.db.$client.exec(`UPDATE tasks SET status = 'finished', result = 'worker died: test' WHERE upid = '${q.upid}'`);
    const result = await runTask(env, row, async (ctx) => {
      await ctx.sleep(1500);
    }).catch((e) => String(e));
    expect(getTask(env, q.upid)!.result).toBe("worker died: test");
    expect(result).toContain("declared dead");
  });
});

describe("runLocalTask (a task run where it was created)", () => {
  test("waits for a slot, runs, and fails with the queue timeout message when none frees", async () => {
    const n = node({ slots: 1, queueTimeoutSec: 1 });
    const env = n.env();
    const first = runLocalTask(env, { type: "unit", authId: "root@pam", needsSlot: true }, async (ctx) => ctx.sleep(1800));
    await Bun.sleep(100);
    const second = await runLocalTask(n.env(), { type: "unit", authId: "root@pam", needsSlot: true }, async () => {});
    expect(second.result).toBe("all worker slots busy for 1 s");
    expect((await first).result).toBe("OK");
    const third = await runLocalTask(env, { type: "unit", authId: "root@pam", needsSlot: true }, async () => {});
    expect(third.result).toBe("OK");
  });
});

describe("submitTask", () => {
  test("a type without a handler ends at once with a clear error", () => {
    const n = node();
    const row = submitTask(n.env(), { type: "sync", authId: "root@pam", workerId: "store1" }); // no handler yet
    expect(row.status).toBe("finished");
    expect(row.result).toBe("no handler for task type 'sync' in this version");
    expect(readTaskLog(n.config.taskLogDir, row.upid)).toContain("TASK ERROR: no handler for task type 'sync' in this version");
  });

  test("selftest needs a slot", () => {
    expect(submitTask(node().env(), { type: "selftest", authId: "root@pam" }).needsSlot).toBe(true);
  });
});

describe("recovery", () => {
  test("a running task whose process is gone, or whose lease expired, is failed naming pid and reason; live ones stay", async () => {
    const n = node({ slots: 3 });
    const dead = await deadPid();
    const deadProc = n.env({ pid: dead, pstart: 12345 });
    const remote = n.env({ node: "othernode", pid: 55, pstart: 1 });
    const alive = n.env();
    for (let i = 0; i < 4; i++) enqueueTask(alive, { type: "unit", authId: "root@pam", needsSlot: true });
    const a = claimNextTask(deadProc, ["unit"], { slots: 3, allowUnslotted: false })!;
    const b = claimNextTask(remote, ["unit"], { slots: 3, allowUnslotted: false })!;
    const c = claimNextTask(alive, ["unit"], { slots: 3, allowUnslotted: false })!;
    const now = Date.now();
    expect(recoverDeadTasks(alive, now).map((r) => r.upid)).toEqual([a.upid]);
    expect(getTask(alive, a.upid)!.result).toBe(`worker died: process ${dead} on node testnode is gone (killed, crashed or the host rebooted) while running this task`);
    // the remote executor is judged by its lease only
    expect(getTask(alive, b.upid)!.status).toBe("running");
    alive.db.$client.query("UPDATE tasks SET lease_until = ? WHERE upid = ?").run(now - 5000, b.upid);
    expect(recoverDeadTasks(alive, now).map((r) => r.upid)).toEqual([b.upid]);
    expect(getTask(alive, b.upid)!.result).toBe("worker died: process 55 on node othernode stopped renewing the task's lease (expired 5 s ago); presumed dead");
    expect(getTask(alive, c.upid)!.status).toBe("running");
    expect(readTaskLog(n.config.taskLogDir, a.upid)).toMatch(/TASK ERROR: worker died: process \d+ on node testnode is gone/);
    // the dead task's slot is free again: the queued fourth task can be claimed
    const d = claimNextTask(alive, ["unit"], { slots: 3, allowUnslotted: false })!;
    expect(d.slot).toBe(a.slot);
  });
});

describe("task log --follow", () => {
  test("prints lines as they come and ends after the closing line", async () => {
    const n = node();
    const env = n.env();
    const q = enqueueTask(env, { type: "unit", authId: "root@pam", needsSlot: false });
    const row = claimNextTask(env, ["unit"], { slots: 1, allowUnslotted: true })!;
    let seen = "";
    const following = followTaskLog(n.config.taskLogDir, q.upid, () => getTask(env, q.upid)!.status === "finished", (t) => (seen += t), { pollMs: 50 });
    await runTask(env, row, async (ctx) => {
      for (let i = 1; i <= 3; i++) {
        await ctx.sleep(100);
        ctx.log(`step ${i} ünïcödé`);
      }
    });
    await following;
    expect(seen).toBe(readTaskLog(n.config.taskLogDir, q.upid));
    expect(seen).toContain("step 3 ünïcödé");
    expect(seen.trimEnd()).toEndWith("TASK OK");
  });
});
