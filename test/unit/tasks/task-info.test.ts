import { afterEach, describe, expect, test } from "bun:test";
import { claimNextTask, enqueueTask, finishTask } from "../../../src/tasks/queue.ts";
import { formatProgress, formatRate, listTasks, parseSince, parseStateFilter, toTaskInfo } from "../../../src/tasks/task-info.ts";
import { testNode, type TestNode } from "./tasks-test-helpers.ts";

const nodes: TestNode[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) n.close();
});

describe("task list filters", () => {
  test("state, type, since and limit select the right tasks, newest first", () => {
    const n = testNode();
    nodes.push(n);
    const env = n.env();
    const old = Date.now() - 3 * 3_600_000;
    const mk = (type: string, now?: number) => enqueueTask(env, { type, authId: "root@pam", needsSlot: false }, { now }).upid;
    const ok = mk("a", old);
    const warn = mk("a");
    const err = mk("b");
    const aborted = mk("b");
    const running = mk("a");
    const queued = mk("c");
    for (const [upid, result] of [[ok, "OK"], [warn, "WARNINGS: 2"], [err, "datastore s1 is offline"], [aborted, "aborted"]]) finishTask(env, upid, result);
    expect(claimNextTask(env, ["a"], { slots: 1, allowUnslotted: true })!.upid).toBe(running);
    const upids = (f: Parameters<typeof listTasks>[1]) => listTasks(env, f).map((t) => t.upid);
    expect(upids({ state: "ok" })).toEqual([ok]);
    expect(upids({ state: "warning" })).toEqual([warn]);
    expect(upids({ state: "error" })).toEqual([aborted, err]);
    expect(upids({ state: "running" })).toEqual([running]);
    expect(upids({ state: "queued" })).toEqual([queued]);
    expect(upids({ state: "active" })).toEqual([queued, running]);
    expect(upids({ type: "a" })).toEqual([running, warn, ok]);
    expect(upids({ since: Date.now() - 3_600_000 })).not.toContain(ok);
    expect(upids({ limit: 2 })).toEqual([queued, running]);
    const info = toTaskInfo(listTasks(env, { state: "warning" })[0]);
    expect(info.state).toBe("WARNINGS: 2");
    expect(() => parseStateFilter("failed")).toThrow(/--state: expected one of queued, running, active, ok, warning, error/);
  });

  test("--since takes durations, epoch seconds and RFC 3339", () => {
    const now = Date.UTC(2026, 5, 1, 12);
    expect(parseSince("2h", now)).toBe(now - 7_200_000);
    expect(parseSince("7d", now)).toBe(now - 7 * 86_400_000);
    expect(parseSince("1780000000", now)).toBe(1_780_000_000_000);
    expect(parseSince("2026-06-01T10:00:00Z", now)).toBe(Date.UTC(2026, 5, 1, 10));
    expect(() => parseSince("yesterday", now)).toThrow(/--since: expected a duration/);
  });

  test("progress and rate read well", () => {
    expect(formatProgress({ done: 512 * 1024 * 1024, total: 2 * 1024 ** 3, unit: "B", rate: 100 * 1024 * 1024 })).toBe("512.0 MiB/2.0 GiB (25%)");
    expect(formatRate({ done: 1, total: null, unit: "B", rate: 100 * 1024 * 1024 })).toBe("100.0 MiB/s");
    expect(formatProgress({ done: 3, total: 10, unit: "s", rate: 1 })).toBe("3/10 s (30%)");
    expect(formatRate({ done: 3, total: 10, unit: "chunks", rate: 12.5 })).toBe("12.5 chunks/s");
    expect(formatProgress(null)).toBe("-");
  });
});
