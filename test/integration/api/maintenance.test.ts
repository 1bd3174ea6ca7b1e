/**
 * GC and verify started over the API, against `run all` of the compiled binary over HTTPS
 * (client module, pinned certificate): the task is queued by the api process and run to the
 * end by the gc / verifier role; the status routes answer what `gc status` / `verify status`
 * print; a caller without the privilege gets 403, bad options 400 naming the field, GC of a
 * quarantined store 409 with the CLI's message.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import type { ApiClient } from "../../../src/client/http.ts";
import { apiClient } from "../../helpers/ibs.ts";
import { adminJson, backupTree, type BackupNode, chunkPath, chunksOf, randomTree, roleRanTask, startBackupNode } from "../maintenance/maintenance-fixture.ts";
import { refusal } from "./api-fixture.ts";

let node: BackupNode;
let work: string;
let admin: ApiClient;
/** olga@ibs!t: DatastoreAudit on /datastore/local (looks, starts nothing). */
let auditor: ApiClient;
/** vera@ibs!t: DatastoreReader on /datastore/local (Audit, Verify, Read: verifies, no GC). */
let reader: ApiClient;

async function tokenClient(userid: string, path: string, role: string): Promise<ApiClient> {
  expect(node.admin(["user", "create", userid]).code).toBe(0);
  expect(node.admin(["acl", "update", path, role, "--auth-id", userid]).code).toBe(0);
  const { secret } = adminJson(node, ["user", "token", "create", userid, "t", "--no-privsep"]);
  return apiClient(node.dir, node.port, { authId: `${userid}!t`, secret });
}

/** Polls a status route until its last result is the task's. */
async function lastRunOf(client: ApiClient, path: string, upid: string): Promise<any> {
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    const s = await client.get<any>(path);
    if (s.last?.upid === upid) return s;
    await Bun.sleep(150);
  }
  throw new Error(`${path}: task ${upid} did not finish within 45 s`);
}

beforeAll(async () => {
  node = await startBackupNode();
  work = fs.mkdtempSync(join(node.dir, "work-"));
  admin = await apiClient(node.dir, node.port);
  auditor = await tokenClient("olga@ibs", "/datastore/local", "DatastoreAudit");
  reader = await tokenClient("vera@ibs", "/datastore/local", "DatastoreReader");
}, 90_000);

afterAll(() => node?.stop());

describe("GC over the API", () => {
  test("POST starts a GC that the gc role runs to the end; GET shows the figures as `gc status` does", async () => {
    const keep = backupTree(node, randomTree(work, "gc-keep"), "gc-keep");
    const gone = backupTree(node, randomTree(work, "gc-gone"), "gc-gone");
    const kept = await chunksOf(node, keep);
    const unique = [...(await chunksOf(node, gone))].filter((d) => !kept.has(d));
    expect(unique.length).toBeGreaterThan(0);
    expect(node.client(["snapshot", "forget", gone]).code).toBe(0);

    const started = await admin.post<{ upid: string; state: string }>("/datastore/local/gc", { "grace-seconds": 0 });
    expect(started.upid).toMatch(/^UPID:[^:]+:[0-9A-F]+:[0-9A-F]+:[0-9A-F]+:[0-9A-F]+:gc:local:admin@ibs:$/);
    expect(["queued", "running", "OK"]).toContain(started.state);

    const s = await lastRunOf(auditor, "/datastore/local/gc", started.upid);
    expect(s.last.state).toBe("OK");
    expect(s.last.summary.removedChunks).toBeGreaterThanOrEqual(unique.length);
    expect(s.last.summary.errors).toEqual([]);
    for (const d of unique) expect(fs.existsSync(chunkPath(node, d))).toBe(false);
    for (const d of kept) expect(fs.existsSync(chunkPath(node, d))).toBe(true);
    expect(roleRanTask(node, "gc", started.upid)).toBe(true);
    expect(adminJson(node, ["task", "status", started.upid])).toMatchObject({ state: "OK", authId: "admin@ibs" });

    // The same report as the CLI's.
    const cli = adminJson(node, ["gc", "status", "local"]);
    expect(await auditor.get<any>("/datastore/local/gc")).toEqual(cli);
  }, 90_000);

  test("403 without Datastore.Modify; GET needs Datastore.Audit only", async () => {
    for (const [who, client] of [["auditor", auditor], ["reader", reader]] as const) {
      const e = await refusal(client.post("/datastore/local/gc", {}));
      expect(`${who}: ${e.status} ${e.code}`).toBe(`${who}: 403 forbidden`);
      expect(e.message).toStartWith("permission check failed: Datastore.Modify on /datastore/local is required");
    }
    expect((await reader.get<any>("/datastore/local/gc")).datastore).toBe("local");
  });

  test("400 naming the field; 409 with the CLI's words on a quarantined store", async () => {
    const bad = await refusal(admin.post("/datastore/local/gc", { "grace-seconds": 1.5 }));
    expect([bad.status, bad.details.field]).toEqual([400, "body.grace-seconds"]);
    expect(bad.message).toStartWith("body.grace-seconds: expected a whole number of seconds, got '1.5'");

    await admin.post("/datastore", { name: "quar1", path: join(node.dir, "quar1") });
    await admin.post("/datastore/quar1/quarantine", { reason: "ransomware suspected" });
    const q = await refusal(admin.post("/datastore/quar1/gc", {}));
    expect([q.status, q.code]).toEqual([409, "quarantined"]);
    const cli = node.admin(["gc", "start", "quar1"]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain(q.message.replace(/ \(HTTP 409.*$/, ""));
    expect(q.message).toStartWith("datastore is quarantined: do not run garbage collection until the root cause is established");
    expect(adminJson<any[]>(node, ["task", "list", "--type", "gc"]).filter((t) => t.upid.includes(":gc:quar1:"))).toEqual([]);
  });
});

describe("verify over the API", () => {
  test("POST by a DatastoreReader starts a verification that the verifier role runs to the end; GET as `verify status`", async () => {
    const snap = backupTree(node, randomTree(work, "v-one", 2, 100_000), "v-one");
    const started = await reader.post<{ upid: string; state: string }>("/datastore/local/verify", { "ignore-verified": false, "notification-mode": "never", "max-concurrent-snapshots": 2 });
    expect(started.upid).toContain(":verify:local:vera@ibs!t:");

    const s = await lastRunOf(auditor, "/datastore/local/verify", started.upid);
    expect(s.last).toMatchObject({ state: "ok", result: "OK", failedSnapshots: [] });
    expect(s.last.snapshots.verified).toBeGreaterThanOrEqual(1);
    expect(s.last.chunks.checked).toBeGreaterThan(0);
    expect(s.error).toBeNull();
    expect(roleRanTask(node, "verifier", started.upid)).toBe(true);
    expect(adminJson<any[]>(node, ["verify", "status", "local"])).toEqual([await auditor.get<any>("/datastore/local/verify")]);

    // One snapshot, named as `verify start --snapshot` takes it.
    const one = await admin.post<{ upid: string }>("/datastore/local/verify", { snapshot: snap, "ignore-verified": false, "notification-mode": "never" });
    const s1 = await lastRunOf(admin, "/datastore/local/verify", one.upid);
    expect(s1.last).toMatchObject({ state: "ok", snapshots: { verified: 1, failed: 0 } });
  }, 90_000);

  test("the CLI refuses the same options in the same words (one shared check)", async () => {
    const api = await refusal(admin.post("/datastore/local/verify", { "outdated-after": 0 }));
    expect(api.message).toStartWith("body.outdated-after: expected a whole number of at least 1, got '0'");
    const cli = node.admin(["verify", "start", "local", "--outdated-after", "0"]);
    expect([cli.code, cli.stderr]).toEqual([2, expect.stringContaining("option outdated-after: expected a whole number of at least 1, got '0'")]);
    const gc = node.admin(["gc", "start", "local", "--grace-seconds", "soon"]);
    expect([gc.code, gc.stderr]).toEqual([2, expect.stringContaining("--grace-seconds: expected a whole number of seconds, got 'soon'")]);
    const apiGc = await refusal(admin.post("/datastore/local/gc", { "grace-seconds": -5 }));
    expect(apiGc.message).toStartWith("body.grace-seconds: expected a whole number of seconds, got '-5'");
  });

  test("403 without Datastore.Verify; 400 naming the field", async () => {
    const e = await refusal(auditor.post("/datastore/local/verify", {}));
    expect(e.status).toBe(403);
    expect(e.message).toStartWith("permission check failed: Datastore.Verify on /datastore/local is required");
    const cases: [Record<string, unknown>, string, string][] = [
      [{ "outdated-after": 0 }, "body.outdated-after", "expected a whole number of at least 1, got '0'"],
      [{ "notification-mode": "loud" }, "body.notification-mode", "'loud' is not a notification mode"],
      [{ snapshot: "host/x" }, "body.snapshot", "is not TYPE/ID/TIME"],
      [{ "verify-window-days": "7" }, "body.verify-window-days", "expected number"],
    ];
    for (const [body, field, message] of cases) {
      const bad = await refusal(admin.post("/datastore/local/verify", body));
      expect(`${bad.status} ${bad.details.field}`).toBe(`400 ${field}`);
      expect(bad.message).toContain(message);
    }
  });
});
