/**
 * The worker role as real processes of the compiled binary: slots bound concurrency, abort
 * works, and kill -9 of a worker mid-task fails its tasks with a message saying the worker
 * died while the next worker process takes the queued ones.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { ibs, ibsBinary, ibsJson, serviceStates, startRole, tempDataDir, waitFor } from "../../helpers/ibs.ts";

interface Task {
  upid: string;
  state: string;
  startedAt: string | null;
  endedAt: string | null;
  executor: { node: string; pid: number } | null;
  slot: number | null;
}

const running: Subprocess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill("SIGKILL");
});

async function startWorker(dir: string): Promise<Subprocess> {
  const w = startRole(dir, "worker");
  running.push(w);
  await waitFor("worker active", () => serviceStates(dir).worker === "active (running)");
  return w;
}

const selftest = (dir: string, seconds: number, count: number): string[] =>
  ibsJson<{ upid: string }[]>(dir, ["worker", "selftest", "--seconds", String(seconds), "--count", String(count)]).map((t) => t.upid);

const task = (dir: string, upid: string) => ibsJson<Task>(dir, ["task", "status", upid]);

/** The most tasks that ran at the same moment, from their recorded start and end times. */
function maxConcurrency(list: Task[]): number {
  const events = list.flatMap((t) => [
    { at: Date.parse(t.startedAt!), d: 1 },
    { at: Date.parse(t.endedAt!), d: -1 },
  ]);
  // At equal times count the end first: a slot is released before the next task takes it.
  events.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const e of events) max = Math.max(max, (now += e.d));
  return max;
}

describe("worker slots", () => {
  test("5 selftest tasks on 2 slots: never more than 2 at once, all OK, run by the worker", async () => {
    const { dir } = tempDataDir("[worker]\nslots = 2\n");
    const worker = await startWorker(dir);
    const r = ibs(["worker", "selftest", "--seconds", "1.5", "--count", "5", "--wait", "--data-dir", dir, "--output-format", "json"]);
    expect(r.code, r.stderr).toBe(0);
    const states = JSON.parse(r.stdout) as { upid: string; state: string }[];
    expect(states.map((s) => s.state)).toEqual(["OK", "OK", "OK", "OK", "OK"]);
    const list = ibsJson<Task[]>(dir, ["task", "list", "--type", "selftest"]);
    expect(list.length).toBe(5);
    expect(maxConcurrency(list)).toBe(2);
    for (const t of list) {
      expect(t.executor?.pid).toBe(worker.pid);
      expect([0, 1]).toContain(t.slot!);
    }
    const log = ibs(["task", "log", states[4].upid, "--data-dir", dir]).stdout;
    expect(log).toContain("selftest: 1.5/1.5 s");
    expect(log.trimEnd()).toMatch(/: TASK OK$/);
  }, 30_000);
});

describe("task abort", () => {
  test("a running task stops at its next safe point and ends 'aborted'; a queued one ends at once; --follow ends with the task", async () => {
    const { dir } = tempDataDir("[worker]\nslots = 1\n");
    await startWorker(dir);
    const [first, second] = selftest(dir, 60, 2);
    await waitFor("first task running", () => task(dir, first).state === "running");
    const follower = Bun.spawn([ibsBinary(), "task", "log", first, "--follow", "--data-dir", dir], { stdout: "pipe", stderr: "pipe" });
    running.push(follower);

    expect(task(dir, second).state).toBe("queued");
    expect(ibsJson(dir, ["task", "abort", second])).toEqual({ upid: second, outcome: "aborted" });
    expect(task(dir, second).state).toBe("aborted");

    expect(ibsJson(dir, ["task", "abort", first]).outcome).toBe("requested");
    const t0 = Date.now();
    await waitFor("first task aborted", () => task(dir, first).state === "aborted", 5000);
    expect(Date.now() - t0).toBeLessThan(4000);

    expect(await follower.exited).toBe(0);
    const followed = await new Response(follower.stdout).text();
    expect(followed).toContain("received abort request");
    expect(followed.trimEnd()).toMatch(/: TASK ERROR: aborted$/);

    const again = ibs(["task", "abort", first, "--data-dir", dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("has already ended: aborted");
    expect(ibsJson<Task[]>(dir, ["task", "list", "--state", "error"]).map((t) => t.upid).sort()).toEqual([first, second].sort());
  }, 30_000);
});

describe("a worker killed with -9", () => {
  test("its running tasks end failed saying the worker died; the next worker takes the queued ones", async () => {
    const { dir } = tempDataDir("[worker]\nslots = 2\n");
    const a = await startWorker(dir);
    const upids = selftest(dir, 3, 4);
    await waitFor("two tasks running", () => upids.filter((u) => task(dir, u).state === "running").length === 2);

    const status = ibsJson(dir, ["worker", "status"]);
    expect(status.hosts[0].slots).toEqual({ total: 2, busy: 2, free: 0 });
    expect(status.hosts[0].running.map((t: any) => t.pid)).toEqual([a.pid, a.pid]);
    expect(status.queued.map((t: any) => t.upid)).toEqual(upids.slice(2));

    a.kill("SIGKILL");
    await a.exited;
    // Any command that looks at tasks closes those of the dead worker first.
    const afterKill = ibsJson<Task[]>(dir, ["task", "list"]);
    const failed = afterKill.filter((t) => t.state.startsWith("worker died"));
    expect(failed.map((t) => t.upid).sort()).toEqual(upids.slice(0, 2).sort());
    for (const t of failed) expect(t.state).toBe(`worker died: process ${a.pid} on node ${t.executor!.node} is gone (killed, crashed or the host rebooted) while running this task`);
    expect(ibsJson(dir, ["worker", "status"]).hosts[0].slots.busy).toBe(0);

    const b = await startWorker(dir);
    await waitFor("queued tasks done by the new worker", () => upids.slice(2).every((u) => task(dir, u).state === "OK"), 15_000);
    for (const u of upids.slice(2)) expect(task(dir, u).executor!.pid).toBe(b.pid);
    expect(ibs(["task", "log", upids[0], "--data-dir", dir]).stdout.trimEnd()).toMatch(/TASK ERROR: worker died: process \d+/);

    b.kill("SIGTERM");
    expect(await b.exited).toBe(0);
  }, 30_000);
});

describe("a worker stopped with SIGTERM", () => {
  test("stops claiming, lets its running task finish, leaves the queue for the next worker", async () => {
    const { dir } = tempDataDir("[worker]\nslots = 1\n");
    const w = await startWorker(dir);
    const [first, second] = selftest(dir, 2, 2);
    await waitFor("first task running", () => task(dir, first).state === "running");
    w.kill("SIGTERM");
    expect(await w.exited).toBe(0);
    expect(task(dir, first).state).toBe("OK");
    expect(task(dir, second).state).toBe("queued");
  }, 30_000);
});
