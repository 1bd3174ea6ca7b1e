import { afterEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { tasks } from "../../../src/state/schema/index.ts";
import { nextRuns, parseCalendarEvent } from "../../../src/tasks/calendar/index.ts";
import { createJob, jobInfo, listJobs, parseOptionArgs, removeJob, requireJobRow, runJobNow, updateJob } from "../../../src/tasks/jobs.ts";
import { insertTask } from "../../../src/tasks/queue.ts";
import { latestDue, runDueJobs } from "../../../src/tasks/scheduler.ts";
import { immediate } from "../../../src/tasks/env.ts";
import { testNode, type TestNode } from "./tasks-test-helpers.ts";

const nodes: TestNode[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) n.close();
});
function node(): TestNode {
  const n = testNode();
  nodes.push(n);
  return n;
}

const T0 = Date.UTC(2026, 2, 28, 23, 0, 0); // just before the Vienna spring-forward change

describe("latestDue", () => {
  /** The same answer by walking every run: slow but obviously right. */
  function byWalking(spec: string, after: number, now: number, zone: string): number | null {
    let last: number | null = null;
    let t = after;
    for (let i = 0; i < 5000; i++) {
      const [n] = nextRuns(parseCalendarEvent(spec), new Date(t * 1000), 1, zone);
      if (!n || n.getTime() / 1000 > now) break;
      last = t = n.getTime() / 1000;
    }
    return last;
  }

  const specs = ["*:*:0/2", "*:0/15", "hourly", "daily", "mon..fri 02:30", "sat *-1..7 15:00", "*-*-* 02:00:00", "2020-01-01"];
  for (const zone of ["UTC", "Europe/Vienna"]) {
    test(`matches walking every run (${zone})`, () => {
      let rnd = 42;
      const random = () => (rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      for (const spec of specs) {
        for (let i = 0; i < 12; i++) {
          const after = Math.floor(T0 / 1000 + random() * 86_400 * 3);
          const span = spec === "*:*:0/2" ? 600 : 86_400 * 10;
          const now = after + Math.floor(random() * span);
          expect(latestDue(parseCalendarEvent(spec), after, now, zone), `${spec} after ${after} now ${now}`).toBe(byWalking(spec, after, now, zone));
        }
      }
    });
  }

  test("is cheap after a year of downtime of an every-2-seconds job", () => {
    const after = T0 / 1000;
    const t0 = performance.now();
    const due = latestDue(parseCalendarEvent("*:*:0/2"), after, after + 365 * 86_400 + 1, "UTC");
    expect(due).toBe(after + 365 * 86_400);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});

describe("scheduler", () => {
  test("two schedulers polling the same jobs start each due time exactly once", () => {
    const n = node();
    const a = n.env({ pid: 301, pstart: 1 });
    const b = n.env({ pid: 302, pstart: 1 });
    createJob(a, { id: "fast", type: "gc", schedule: "*:*:0/2", store: "local" }, T0);
    createJob(a, { id: "slow", type: "verify", schedule: "*:*:0/5", store: "local" }, T0);
    for (let ms = 0; ms <= 21_000; ms += 300) {
      for (const env of ms % 600 === 0 ? [a, b] : [b, a]) expect(runDueJobs(env, T0 + ms, "UTC").errors).toEqual([]);
    }
    const rows = a.db.select().from(tasks).all();
    const dues = (job: string) => rows.filter((t) => t.jobId === job).map((t) => t.dueAt! - T0 / 1000).sort((x, y) => x - y);
    expect(dues("fast")).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    expect(dues("slow")).toEqual([5, 10, 15, 20]);
    // both processes did some of the work
    expect(new Set(rows.map((t) => t.upid.split(":")[2])).size).toBe(2);
  });

  test("a scheduler that read a job just before a rival claimed it does not start it again", () => {
    const n = node();
    const a = n.env({ pid: 401, pstart: 1 });
    const b = n.env({ pid: 402, pstart: 1 });
    createJob(a, { id: "j", type: "gc", schedule: "*:*:0/2" }, T0);
    let rival: ReturnType<typeof runDueJobs> | null = null;
    const mine = runDueJobs(a, T0 + 2500, "UTC", { beforeClaim: () => (rival ??= runDueJobs(b, T0 + 2500, "UTC")) });
    expect(rival!.started.map((s) => s.dueAt - T0 / 1000)).toEqual([2]);
    expect(mine).toEqual({ started: [], errors: [] });
    expect(a.db.select().from(tasks).all().length).toBe(1);
  });

  test("after downtime a missed job runs once, for the latest due time", () => {
    const n = node();
    const env = n.env();
    createJob(env, { id: "nightly", type: "gc", schedule: "daily", store: "local" }, T0);
    // T0 is 23:00 UTC: ten days and two hours later it is 01:00, the last due time midnight
    const tenDaysLater = T0 + 10 * 86_400_000 + 2 * 3_600_000;
    expect(runDueJobs(env, tenDaysLater, "UTC").started.map((s) => s.dueAt * 1000)).toEqual([T0 + 10 * 86_400_000 + 3_600_000]);
    expect(runDueJobs(env, tenDaysLater + 1000, "UTC").started).toEqual([]);
    expect(env.db.select().from(tasks).all().length).toBe(1);
    const info = jobInfo(env, requireJobRow(env, "nightly"), tenDaysLater, "UTC");
    expect(info.nextRun).toBe(new Date(T0 + 11 * 86_400_000 + 3_600_000).toISOString());
  });

  test("a job without a handler in this version ends its task with a clear error", () => {
    const n = node();
    const env = n.env();
    // `sync` has no handler yet (gc, verify and prune got theirs with issue #7).
    createJob(env, { id: "gc1", type: "sync", schedule: "*:*:0/2" }, T0);
    const { started, errors } = runDueJobs(env, T0 + 2000, "UTC");
    expect(errors).toEqual([]);
    expect(started[0].task.status).toBe("finished");
    expect(started[0].task.result).toBe("no handler for task type 'sync' in this version");
    expect(jobInfo(env, requireJobRow(env, "gc1"), T0 + 2000, "UTC").lastState).toBe("no handler for task type 'sync' in this version");
  });

  test("disabled jobs do not run; enabling does not catch up on the time they were disabled", () => {
    const n = node();
    const env = n.env();
    createJob(env, { id: "j", type: "prune", schedule: "*:*:0/2", enabled: false }, T0);
    expect(runDueJobs(env, T0 + 10_000, "UTC").started).toEqual([]);
    expect(jobInfo(env, requireJobRow(env, "j")).nextRun).toBeNull();
    updateJob(env, "j", { enabled: true }, T0 + 11_000);
    expect(runDueJobs(env, T0 + 11_500, "UTC").started).toEqual([]);
    expect(runDueJobs(env, T0 + 12_000, "UTC").started.map((s) => s.dueAt - T0 / 1000)).toEqual([12]);
  });

  test("the database refuses a second task for the same job due time", () => {
    const env = node().env();
    const req = { type: "gc", authId: "root@pam", needsSlot: false, jobId: "x", dueAt: 100 };
    immediate(env, () => insertTask(env, req));
    expect(() => immediate(env, () => insertTask(env, req))).toThrow(/UNIQUE/);
  });
});

describe("jobs", () => {
  test("create validates id, type and schedule, naming what is wrong", () => {
    const env = node().env();
    expect(() => createJob(env, { id: "bad id", type: "gc", schedule: "daily" })).toThrow(/job id 'bad id' is not valid/);
    expect(() => createJob(env, { id: "j1", type: "backup", schedule: "daily" })).toThrow(/job type 'backup' is not known/);
    expect(() => createJob(env, { id: "j1", type: "gc", schedule: "mon..fri 25:00" })).toThrow(/25/);
    createJob(env, { id: "j1", type: "gc", schedule: "daily" });
    expect(() => createJob(env, { id: "j1", type: "gc", schedule: "daily" })).toThrow(/job 'j1' already exists/);
    expect(() => parseOptionArgs(["nokey"])).toThrow(/expected key=value/);
  });

  test("show, update options and schedule, run now, remove", () => {
    const env = node().env();
    createJob(env, { id: "v1", type: "verify", schedule: "daily", store: "s1", options: parseOptionArgs(["outdated-after=30", "ignore-verified=true"]) }, T0);
    let info = updateJob(env, "v1", { schedule: "sat 03:00", options: { "outdated-after": "7" }, deleteOptions: ["ignore-verified"], comment: "weekly" }, T0 + 1000);
    expect(info.options).toEqual({ "outdated-after": "7" });
    expect(info.normalizedSchedule).toBe("Sat *-*-* 03:00:00");
    expect(info.comment).toBe("weekly");
    const task = runJobNow(env, "v1");
    expect(task.upid).toMatch(/^UPID:testnode:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:verify:s1\\x3av1:root@pam:$/);
    expect(JSON.parse(task.params)).toEqual({ job: "v1", store: "s1", options: { "outdated-after": "7" } });
    info = jobInfo(env, requireJobRow(env, "v1"));
    expect(info.lastUpid).toBe(task.upid);
    expect(listJobs(env).map((j) => j.id)).toEqual(["v1"]);
    removeJob(env, "v1");
    expect(() => requireJobRow(env, "v1")).toThrow(/job 'v1' does not exist/);
    expect(env.db.select().from(tasks).where(eq(tasks.upid, task.upid)).get()).toBeDefined();
  });
});
