/**
 * GC, verify and prune through the task system, as an operator runs them: the compiled binary
 * (`run all` and admin/client commands as separate processes), snapshots from the real backup
 * client (unencrypted) or written with the datastore library where that is quicker.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { ibs, tempDataDir } from "../../helpers/ibs.ts";
import { pieces, sessionBackup } from "../../unit/maintenance/session.ts";
import { adminJson, backupTree, type BackupNode, chunkFileCount, chunkPath, chunksOf, outbox, randomTree, roleRanTask, startBackupNode, storeDir, taskResult } from "./maintenance-fixture.ts";

let node: BackupNode;
let work: string;

beforeAll(async () => {
  node = await startBackupNode();
  work = fs.mkdtempSync(join(node.dir, "work-"));
}, 90_000);

afterAll(() => node?.stop());

describe("gc", () => {
  test("gc start --follow after snapshot forget removes the unreferenced chunks; gc status shows the figures", async () => {
    const keep = backupTree(node, randomTree(work, "gc-keep"), "gc-keep");
    const gone = backupTree(node, randomTree(work, "gc-gone"), "gc-gone");
    const keptChunks = await chunksOf(node, keep);
    const unique = [...(await chunksOf(node, gone))].filter((d) => !keptChunks.has(d));
    expect(unique.length).toBeGreaterThan(0);
    expect(node.client(["snapshot", "forget", gone]).code).toBe(0);

    const r = node.admin(["gc", "start", "local", "--follow", "--grace-seconds", "0"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("phase 1: marking");
    expect(r.stdout).toMatch(/TASK OK/);
    for (const d of unique) expect(fs.existsSync(chunkPath(node, d))).toBe(false);
    for (const d of keptChunks) expect(fs.existsSync(chunkPath(node, d))).toBe(true);

    const s = adminJson(node, ["gc", "status", "local"]);
    expect(s.running).toBeNull();
    expect(s.last.state).toBe("OK");
    expect(s.last.summary.removedChunks).toBeGreaterThanOrEqual(unique.length);
    expect(s.last.summary.removedBytes).toBeGreaterThan(0);
    expect(s.last.summary.pendingChunks).toBe(0);
    expect(s.last.summary.durationMs).toBeGreaterThanOrEqual(0);
    expect(s.last.summary.errors).toEqual([]);
    const text = node.admin(["gc", "status", "local"]).stdout;
    expect(text).toMatch(/removed\s+\d+ chunks/);
    expect(text).toContain("pending");

    // The task is in the history, run by the gc role.
    const tasks = adminJson<any[]>(node, ["task", "list", "--type", "gc"]);
    expect(tasks[0].state).toBe("OK");
    expect(roleRanTask(node, "gc", tasks[0].upid)).toBe(true);
  }, 60_000);

  test("gc is refused on a quarantined datastore with the exact message, by the CLI and by the task", async () => {
    const path = join(node.dir, "quarantined-store");
    expect(node.admin(["datastore", "create", "qstore", path]).code).toBe(0);
    expect(node.admin(["datastore", "quarantine", "qstore", "--reason", "disk errors under investigation"]).code).toBe(0);
    const r = node.admin(["gc", "start", "qstore"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("error: datastore is quarantined: do not run garbage collection until the root cause is established\n");

    // A scheduled GC (a job) meets the same refusal inside its task.
    expect(node.admin(["job", "create", "gc-q", "--type", "gc", "--schedule", "daily", "--store", "qstore"]).code).toBe(0);
    const run = adminJson(node, ["job", "run", "gc-q"]);
    expect(await taskResult(node, run.upid)).toBe("datastore is quarantined: do not run garbage collection until the root cause is established");
  }, 30_000);
});

describe("verify", () => {
  let a: string, b: string, c: string;
  let missing: string, corrupt: string;

  beforeAll(async () => {
    a = backupTree(node, randomTree(work, "va"), "va");
    b = backupTree(node, randomTree(work, "vb"), "vb");
    c = backupTree(node, randomTree(work, "vc"), "vc");
    const [ca, cb, cc] = [await chunksOf(node, a), await chunksOf(node, b), await chunksOf(node, c)];
    missing = [...ca].find((d) => !cb.has(d) && !cc.has(d))!;
    corrupt = [...cb].find((d) => !ca.has(d) && !cc.has(d))!;
    fs.rmSync(chunkPath(node, missing));
    const bytes = fs.readFileSync(chunkPath(node, corrupt));
    bytes[bytes.length >> 1]! ^= 0x40;
    fs.writeFileSync(chunkPath(node, corrupt), bytes);
  }, 60_000);

  test("verify start finds a deleted chunk and a flipped byte, names both, fails the right snapshots and queues an error event", async () => {
    const before = outbox(node).length;
    const r = node.admin(["verify", "start", "local", "--no-ignore-verified", "--notification-mode", "error", "--follow"]);
    expect(r.code).toBe(1);
    const said = r.stdout + r.stderr;
    expect(said).toContain(missing);
    expect(said).toContain(corrupt);
    expect(r.stderr).toMatch(/task .* ended: verification failed: 2 snapshots failed, 2 chunks missing or corrupt/);
    expect(r.stderr).toContain(`chunk ${missing} missing`);
    expect(r.stderr).toContain(`chunk ${corrupt} corrupt`);

    const states = Object.fromEntries(node.clientJson<any[]>(["snapshot", "list"]).map((s) => [s.snapshot, s.verifyState]));
    expect(states[a]).toBe("failed");
    expect(states[b]).toBe("failed");
    expect(states[c]).toBe("ok");

    const events = outbox(node).slice(before);
    expect(events.length).toBe(1);
    expect(events[0]!).toMatchObject({ type: "verify", severity: "error", state: "queued" });
    expect(String(events[0]!.fields.body)).toContain(missing);
    expect(events[0]!.fields.datastore).toBe("local");

    const st = adminJson<any[]>(node, ["verify", "status", "local"]);
    expect(st[0].last.state).toBe("failed");
    expect(st[0].last.result).toContain("verification failed");
    expect(st[0].last.snapshots.failed).toBe(2);
    expect(st[0].last.failedSnapshots.sort()).toEqual([a, b].sort());
    expect(node.admin(["verify", "status"]).stdout).toMatch(/snapshots\s+\d+ verified, 2 failed/);
  }, 60_000);

  test("a successful verify queues nothing with --notification-mode never, and an info event with always", async () => {
    const before = outbox(node).length;
    const never = node.admin(["verify", "start", "local", "--snapshot", c, "--no-ignore-verified", "--notification-mode", "never", "--follow"]);
    expect(never.stderr).toBe("");
    expect(never.code).toBe(0);
    expect(never.stdout).toContain("TASK OK");
    expect(outbox(node).length).toBe(before);

    const always = node.admin(["verify", "start", "local", "--snapshot", c, "--no-ignore-verified", "--notification-mode", "always", "--follow"]);
    expect(always.code).toBe(0);
    const events = outbox(node).slice(before);
    expect(events.map((e) => e.severity)).toEqual(["info"]);
  }, 30_000);

  test("a verify job made with job create and run with job run is executed by the verifier role", async () => {
    expect(node.admin(["job", "create", "v-c", "--type", "verify", "--schedule", "daily", "--store", "local", "--option", `snapshot=${c}`, "--option", "notification-mode=never"]).code).toBe(0);
    const run = adminJson(node, ["job", "run", "v-c"]);
    const state = await taskResult(node, run.upid);
    expect(state).not.toContain("no handler");
    expect(state).toBe("OK");
    expect(roleRanTask(node, "verifier", run.upid)).toBe(true);
    const st = adminJson<any[]>(node, ["verify", "status", "local"]);
    expect(st[0].nextScheduled.job).toBe("v-c");
    // The job verifies with the default --ignore-verified: c was verified OK minutes ago, so skipped.
    expect(st[0].last).toMatchObject({ state: "ok", result: "OK", upid: run.upid, snapshots: { verified: 0, skipped: 1, failed: 0 } });
  }, 30_000);

  test("bad verify options are refused before anything is queued", () => {
    const r = node.admin(["verify", "start", "local", "--notification-mode", "sometimes"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'sometimes' is not a notification mode");
  });
});

describe("prune", () => {
  let dir: string;
  const times = [1, 2, 3, 4, 5].map((d) => new Date(Date.UTC(2026, 9, d, 12)).toISOString().replace(/\.\d{3}Z$/, "Z"));

  beforeAll(async () => {
    dir = join(node.dir, "prune-store");
    expect(node.admin(["datastore", "create", "pstore", dir]).code).toBe(0);
    const ds = await Datastore.open(dir, { name: "pstore", recover: false });
    try {
      for (const [i, time] of times.entries()) {
        await sessionBackup(ds, { group: { ns: [], type: "vm", id: "100" }, time, pieces: pieces([i, 100]) });
        await sessionBackup(ds, { group: { ns: [], type: "vm", id: "200" }, time, pieces: pieces([i + 50]) });
      }
    } finally {
      ds.close();
    }
  }, 30_000);

  const remaining = async (id: string) => {
    const ds = await Datastore.open(dir, { name: "pstore", recover: false });
    try {
      return (await ds.snapshots.list({ ns: [], type: "vm", id })).map((s) => s.ref.time);
    } finally {
      ds.close();
    }
  };

  test("prune --dry-run lists what would go and removes nothing; prune removes per policy", async () => {
    const dry = node.admin(["prune", "vm/100", "--store", "pstore", "--keep-last", "2", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout.match(/would remove/g)?.length).toBe(3);
    expect(dry.stdout).toContain(`vm/100/${times[0]}`);
    expect(await remaining("100")).toEqual(times);

    const json = adminJson(node, ["prune", "vm/100", "--store", "pstore", "--keep-last", "2"]);
    expect(json.removed).toBe(3);
    expect(json.kept).toBe(2);
    expect(await remaining("100")).toEqual(times.slice(3));
    expect(await remaining("200")).toEqual(times); // another group is untouched
  }, 30_000);

  test("prune without a keep option or store is refused", () => {
    expect(node.admin(["prune", "vm/200", "--store", "pstore"]).stderr).toContain("no keep option given");
    expect(node.admin(["prune", "vm/200", "--keep-last", "1"]).stderr).toContain("--store is required");
  });

  test("a prune job runs in the gc role over the whole datastore", async () => {
    expect(node.admin(["job", "create", "p-all", "--type", "prune", "--schedule", "daily", "--store", "pstore", "--option", "keep-last=1"]).code).toBe(0);
    const run = adminJson(node, ["job", "run", "p-all"]);
    expect(await taskResult(node, run.upid)).toBe("OK");
    expect(await remaining("100")).toEqual(times.slice(4));
    expect(await remaining("200")).toEqual(times.slice(4));
    expect(roleRanTask(node, "gc", run.upid)).toBe(true);
    const log = adminJson(node, ["task", "log", run.upid]);
    expect(log.lines.map((l: any) => l.message).join("\n")).toContain(`removed vm/200/${times[0]}`);
  }, 30_000);
});

test("the chunk store still holds chunks (sanity of the helpers)", () => {
  expect(chunkFileCount(node)).toBeGreaterThan(0);
  expect(fs.existsSync(storeDir(node))).toBe(true);
});

test("gc start without a running gc service queues the task and says it waits", () => {
  const { dir } = tempDataDir();
  try {
    expect(ibs(["datastore", "create", "lonely", join(dir, "lonely"), "--data-dir", dir]).code).toBe(0);
    const r = ibs(["gc", "start", "lonely", "--data-dir", dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^UPID:.*:gc:lonely:root@pam:\n$/);
    expect(r.stderr).toContain("warning: no gc service is running; the task waits in the queue");
    const list = JSON.parse(ibs(["task", "list", "--data-dir", dir, "--output-format", "json"]).stdout);
    expect(list[0].state).toBe("queued");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
