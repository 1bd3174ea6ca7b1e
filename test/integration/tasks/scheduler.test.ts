/**
 * Two scheduler processes by mistake on one node: each due time of a job still starts exactly
 * one task, and a job missed during downtime runs once, not once per missed time.
 */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ibs, ibsJson, serviceStates, startRole, tempDataDir, waitFor } from "../../helpers/ibs.ts";

const running: Subprocess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill("SIGKILL");
});

interface Task {
  upid: string;
  state: string;
  jobId: string | null;
  dueAt: string | null;
}

describe("scheduler", () => {
  test("two schedulers: every due time of a 2-second job runs once; a missed hourly job catches up once", async () => {
    const { dir } = tempDataDir("[scheduler]\ninterval = 0.3\n");
    const bad = ibs(["job", "create", "x", "--type", "gc", "--schedule", "mon..fri 25:00", "--data-dir", dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("25");

    const created = ibsJson(dir, ["job", "create", "fast", "--type", "sync", "--schedule", "*:*:0/2", "--store", "local", "--option", "keep=1", "--option", "dry=yes"]);
    expect(created.options).toEqual({ keep: "1", dry: "yes" });
    expect(Date.parse(created.nextRun) - Date.now()).toBeLessThanOrEqual(2000);
    ibsJson(dir, ["job", "create", "hourly", "--type", "sync", "--schedule", "hourly", "--store", "local"]);
    // Three days of downtime for the hourly job: its bookmark is far in the past.
    const db = new Database(join(dir, "state.db"));
    db.query("UPDATE jobs SET last_due = ? WHERE id = 'hourly'").run(Math.floor(Date.now() / 1000) - 3 * 86_400);
    db.close();

    const beforeStart = Date.now();
    const s1 = startRole(dir, "scheduler");
    const s2 = startRole(dir, "scheduler");
    running.push(s1, s2);
    await waitFor("a scheduler active", () => serviceStates(dir).scheduler === "active (running)");
    const startedAt = Date.now();
    await Bun.sleep(7000);
    s1.kill("SIGTERM");
    s2.kill("SIGTERM");
    expect(await s1.exited).toBe(0);
    expect(await s2.exited).toBe(0);
    const stoppedAt = Date.now();

    // Neither scheduler ran into the other (a lost race would show as an error here).
    const log = readFileSync(join(dir, "log", "scheduler.log"), "utf8");
    expect(log).not.toContain('"level":"error"');
    expect(log.match(/"msg":"scheduler ready"/g)?.length).toBe(2);

    const tasks = ibsJson<Task[]>(dir, ["task", "list", "--limit", "1000"]);
    const fast = tasks.filter((t) => t.jobId === "fast").map((t) => Date.parse(t.dueAt!) / 1000).sort((a, b) => a - b);
    expect(fast.length).toBeGreaterThanOrEqual(3);
    expect(new Set(fast).size).toBe(fast.length);
    for (let i = 1; i < fast.length; i++) expect(fast[i] - fast[i - 1]).toBe(2);
    for (const t of tasks.filter((t) => t.jobId === "fast")) expect(t.state).toBe("no handler for task type 'sync' in this version");

    // The missed hours run once, as the last of them; an hour that begins while the schedulers
    // run (a CI run at hh:59:55) is a due time of its own and runs too.
    const hour = 3_600_000;
    const hourly = tasks.filter((t) => t.jobId === "hourly").map((t) => Date.parse(t.dueAt!)).sort((a, b) => a - b);
    const hoursBegun = Math.floor(stoppedAt / hour) - Math.floor(beforeStart / hour);
    expect(hourly.length).toBe(1 + hoursBegun);
    expect(hourly[0]! % hour).toBe(0);
    expect(startedAt - hourly[0]!).toBeLessThan(hour);
    for (let i = 1; i < hourly.length; i++) expect(hourly[i]! - hourly[i - 1]!).toBe(hour);

    const show = ibsJson(dir, ["job", "show", "fast"]);
    expect(show.lastState).toBe("no handler for task type 'sync' in this version");
    expect(tasks.map((t) => t.upid)).toContain(show.lastUpid);

    const run = ibs(["job", "run", "hourly", "--data-dir", dir]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^UPID:[^:]+:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:sync:local\\x3ahourly:root@pam:\n$/);
    expect(run.stderr).toContain("no handler for task type 'sync' in this version"); // sync has no handler yet
  }, 30_000);
});
