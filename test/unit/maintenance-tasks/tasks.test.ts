/**
 * The gc / verify / prune task handlers in-process: an abort while the library runs ends the
 * task `aborted` with nothing removed, and the option parsers that jobs and the CLI share.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createDatastore } from "../../../src/datastore/admin/index.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { gcTask } from "../../../src/maintenance/gc-task.ts";
import { gcStatus } from "../../../src/maintenance/gc-status.ts";
import { parsePruneTaskOptions } from "../../../src/maintenance/prune-task.ts";
import { parseVerifyTaskOptions, verifyTask } from "../../../src/maintenance/verify-task.ts";
import { wanted } from "../../../src/notify/outbox.ts";
import { claimNextTask, enqueueTask } from "../../../src/tasks/queue.ts";
import { runTask, TaskAbortedError, type TaskHandler } from "../../../src/tasks/runner.ts";
import { ct200, pieces, sessionBackup } from "../maintenance/session.ts";
import { testNode, type TestNode } from "../tasks/tasks-test-helpers.ts";

let node: TestNode | undefined;
afterEach(() => node?.close());

async function storeWithGarbage(n: TestNode): Promise<{ path: string; chunks: number }> {
  const env = n.env();
  const path = join(n.dir, "store1");
  await createDatastore(env.db, { name: "store1", path });
  const ds = await Datastore.open(path, { name: "store1" });
  try {
    await sessionBackup(ds, { group: ct200, time: "2026-11-01T10:00:00Z", pieces: pieces([1, 2, 3]) });
    await sessionBackup(ds, { group: ct200, time: "2026-11-02T10:00:00Z", pieces: pieces([4, 5, 6]) });
    await ds.snapshots.forget({ ...ct200, time: "2026-11-01T10:00:00Z" });
    return { path, chunks: (ds.catalog.db.query("SELECT count(*) AS n FROM chunks").get() as { n: number }).n };
  } finally {
    ds.close();
  }
}

/** Runs `handler` as a task whose abort arrives as soon as it starts working. */
async function runAborted(n: TestNode, type: string, options: Record<string, string>, handler: TaskHandler): Promise<string> {
  const env = n.env();
  enqueueTask(env, { type, authId: "root@pam", needsSlot: false, params: { store: "store1", options } });
  const row = claimNextTask(env, [type], { slots: 2, allowUnslotted: true })!;
  const stop = new AbortController();
  return runTask(env, row, async (ctx) => {
    stop.abort(new TaskAbortedError("aborted"));
    await handler(ctx);
  }, { stop: stop.signal });
}

describe("abort", () => {
  test("an aborted gc task ends 'aborted', records it, and removes nothing", async () => {
    node = testNode();
    const { path, chunks } = await storeWithGarbage(node);
    expect(await runAborted(node, "gc", { "grace-seconds": "0" }, gcTask)).toBe("aborted");
    const ds = await Datastore.open(path, { name: "store1" });
    try {
      expect((ds.catalog.db.query("SELECT count(*) AS n FROM chunks").get() as { n: number }).n).toBe(chunks);
      expect(gcStatus(ds).last?.state).toBe("aborted");
      expect(gcStatus(ds).running).toBeNull(); // the lock was released
    } finally {
      ds.close();
    }
    // And a GC afterwards runs normally and removes the forgotten snapshot's chunks.
    const env = node.env();
    enqueueTask(env, { type: "gc", authId: "root@pam", needsSlot: false, params: { store: "store1", options: { "grace-seconds": "0" } } });
    expect(await runTask(env, claimNextTask(env, ["gc"], { slots: 2, allowUnslotted: true })!, gcTask)).toBe("OK");
  });

  test("an aborted verify task ends 'aborted'", async () => {
    node = testNode();
    await storeWithGarbage(node);
    expect(await runAborted(node, "verify", { "notification-mode": "never" }, verifyTask)).toBe("aborted");
  });
});

describe("options shared by jobs and the CLI", () => {
  test("verify options", () => {
    const o = parseVerifyTaskOptions({ ns: "a/b", snapshot: "vm/100/2026-11-26T19:00:00Z", "ignore-verified": "false", "outdated-after": "30", "max-concurrent-snapshots": "3", "notification-mode": "error" });
    expect(o.verify).toMatchObject({ ns: ["a", "b"], snapshot: { ns: ["a", "b"], type: "vm", id: "100", time: "2026-11-26T19:00:00Z" }, ignoreVerified: false, outdatedAfterDays: 30, maxConcurrentSnapshots: 3 });
    expect(o.notificationMode).toBe("error");
    expect(parseVerifyTaskOptions({}).notificationMode).toBe("always");
    expect(() => parseVerifyTaskOptions({ colour: "red" })).toThrow("unknown option 'colour'");
    expect(() => parseVerifyTaskOptions({ snapshot: "vm/100" })).toThrow("is not TYPE/ID/TIME");
    expect(() => parseVerifyTaskOptions({ "verify-window-days": "0" })).toThrow("at least 1");
    expect(() => parseVerifyTaskOptions({ "notification-mode": "loud" })).toThrow("'loud' is not a notification mode");
  });

  test("prune options need a keep option", () => {
    expect(parsePruneTaskOptions({ "keep-daily": "7", ns: "x", "max-depth": "1" })).toMatchObject({ keep: { keepDaily: 7 }, ns: ["x"], maxDepth: 1, dryRun: false });
    expect(() => parsePruneTaskOptions({ ns: "x" })).toThrow("no keep option given");
    expect(() => parsePruneTaskOptions({ "keep-last": "0" })).toThrow("at least 1");
  });

  test("notification modes", () => {
    expect([wanted("always", "info"), wanted("always", "error"), wanted("error", "info"), wanted("error", "error"), wanted("never", "error")]).toEqual([true, true, false, true, false]);
  });
});
