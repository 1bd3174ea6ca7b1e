/**
 * Datastore administration through the API, against a real `run api` process over HTTPS
 * (client module, pinned certificate): create, list, show, probe, stats, modes, quarantine
 * refusing a backup session, release, reindex, namespaces, remove; 403 without the privilege,
 * 400 naming the field for a bad name or a relative path; changes in the audit log.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ApiClient } from "../../../src/client/http.ts";
import { apiClient } from "../../helpers/ibs.ts";
import { cliJson, refusal, startApiNode, type ApiNode } from "../api/api-fixture.ts";

let node: ApiNode;
let root: string;
let admin: ApiClient;
/** dave@ibs!t: DatastoreAudit on /datastore/store1 only. */
let auditor: ApiClient;
/** erin@ibs!t: DatastoreAdmin on /datastore (everything but Datastore.Allocate). */
let storeAdmin: ApiClient;

async function tokenClient(userid: string, path: string, role: string): Promise<ApiClient> {
  expect(node.cli(["user", "create", userid]).code).toBe(0);
  expect(node.cli(["acl", "update", path, role, "--auth-id", userid]).code).toBe(0);
  const { secret } = cliJson(node, ["user", "token", "create", userid, "t", "--no-privsep"]);
  return apiClient(node.dir, node.port, { authId: `${userid}!t`, secret });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "ibs-dsapi-"));
  node = await startApiNode();
  admin = await apiClient(node.dir, node.port);
  auditor = await tokenClient("dave@ibs", "/datastore/store1", "DatastoreAudit");
  storeAdmin = await tokenClient("erin@ibs", "/datastore", "DatastoreAdmin");
}, 60_000);

afterAll(() => {
  node?.proc.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

const store1 = () => join(root, "store1");
const backupStart = { store: "store1", backupType: "host", backupId: "web1", cryptMode: "none" };

describe("datastore administration over the API", () => {
  test("create, list, show, probe, stats", async () => {
    const made = await admin.post<any>("/datastore", { name: "store1", path: store1() + "/", comment: "main store" });
    expect(made).toMatchObject({ created: true, datastore: { name: "store1", path: store1(), comment: "main store", backend: "local" } });
    expect(existsSync(join(store1(), ".ibs", "catalog.db"))).toBe(true);

    const list = await admin.get<any[]>("/datastore");
    expect(list.map((d) => d.name)).toEqual(["local", "store1"]);
    expect(list[1]).toMatchObject({ name: "store1", mode: "online", available: true, status: "available", storeId: made.datastore.storeId });
    expect(await admin.get<any>("/datastore/store1")).toMatchObject({ name: "store1", formatVersion: 1, mode: "online" });
    expect(await admin.put<any>("/datastore/store1", { comment: "primary" })).toMatchObject({ name: "store1", comment: "primary" });
    // The CLI sees the same registry.
    expect(cliJson(node, ["datastore", "show", "store1"])).toMatchObject({ storeId: made.datastore.storeId, comment: "primary" });

    const probe = await admin.get<any>("/datastore/store1/probe");
    expect(probe).toMatchObject({ name: "store1", path: store1(), ok: true, failures: 0 });
    expect(probe.checks.find((c: any) => c.check === "write")).toMatchObject({ status: "ok" });

    const stats = await admin.get<any>("/datastore/store1/stats");
    expect(stats).toMatchObject({ name: "store1", mode: "online", content: { snapshots: 0, chunks: 0 } });
    expect(stats.filesystem.bytesTotal).toBeGreaterThan(0);

    const dup = await refusal(admin.post("/datastore", { name: "store1", path: join(root, "other") }));
    expect([dup.status, dup.code]).toEqual([409, "conflict"]);
    expect(dup.message).toContain("datastore 'store1' already exists");
    const missing = await refusal(admin.get("/datastore/nosuch"));
    expect([missing.status, missing.message]).toEqual([404, expect.stringContaining("datastore 'nosuch' is not registered on this node")]);
  });

  test("400 naming the field for a bad name, a relative path, an unknown mode or field", async () => {
    const cases: [string, () => Promise<unknown>, string][] = [
      ["bad name", () => admin.post("/datastore", { name: "x", path: join(root, "x") }), "body.name: datastore name 'x' is invalid"],
      ["relative path", () => admin.post("/datastore", { name: "relative", path: "stores/rel" }), "body.path: datastore path 'stores/rel' is not absolute"],
      ["name in the URL", () => admin.get("/datastore/a%2Fb"), "params.store: datastore name 'a/b' is invalid"],
      ["unknown mode", () => admin.put("/datastore/store1/mode", { mode: "sleepy" }), "body.mode: unknown datastore mode 'sleepy'"],
      ["quarantine as a mode", () => admin.put("/datastore/store1/mode", { mode: "quarantined" }), "body.mode: quarantine with POST /datastore/{store}/quarantine"],
      ["unknown field", () => admin.post("/datastore", { name: "store9", path: join(root, "s9"), force: true }), "body: unknown field 'force'"],
      ["bad namespace", () => admin.post("/datastore/store1/namespaces", { ns: "a/../b" }), "body.ns: namespace 'a/../b': component '..' is invalid"],
    ];
    for (const [what, call, message] of cases) {
      const e = await refusal(call());
      expect(`${what}: ${e.status} ${e.code}`).toBe(`${what}: 400 invalid_request`);
      expect(e.message).toContain(message);
    }
    expect(existsSync(join(root, "x"))).toBe(false);
    expect((await admin.get<any[]>("/datastore")).map((d) => d.name)).toEqual(["local", "store1"]);
  });

  test("mode change: read-only refuses namespace changes with 409 read_only; online again", async () => {
    expect(await admin.put<any>("/datastore/store1/mode", { mode: "read-only", reason: "disk swap" })).toMatchObject({ mode: "read-only", reason: "disk swap", previous: "online" });
    const e = await refusal(admin.post("/datastore/store1/namespaces", { ns: "prod" }));
    expect([e.status, e.code]).toEqual([409, "read_only"]);
    expect(e.message).toContain("datastore store1 is read-only (reason: disk swap): refusing to");
    expect(await admin.put<any>("/datastore/store1/mode", { mode: "online" })).toMatchObject({ mode: "online", reason: null, previous: "read-only" });
  });

  test("quarantine refuses a backup session naming the reason; a mode change cannot lift it; release does", async () => {
    const q = await admin.post<any>("/datastore/store1/quarantine", { reason: "ransomware suspected" });
    expect(q).toMatchObject({ name: "store1", mode: "quarantined", reason: "ransomware suspected", previous: "online" });

    const refused = await refusal(admin.post("/backup", backupStart));
    expect([refused.status, refused.code]).toEqual([409, "quarantined"]);
    expect(refused.message).toContain("datastore store1 is quarantined (reason: ransomware suspected)");
    const lift = await refusal(admin.put("/datastore/store1/mode", { mode: "online" }));
    expect([lift.status, lift.message]).toEqual([409, expect.stringContaining("a mode change does not lift a quarantine")]);
    const destroy = await refusal(admin.delete("/datastore/store1", { "destroy-data": 1 }));
    expect([destroy.status, destroy.message]).toEqual([409, expect.stringContaining("refusing to destroy its data")]);
    const noReason = await refusal(admin.post("/datastore/store1/quarantine", { reason: "  " }));
    expect([noReason.status, noReason.message]).toEqual([400, expect.stringContaining("quarantine needs a reason")]);
    expect((await admin.get<any>("/datastore/store1/stats")).modeReason).toBe("ransomware suspected");

    expect(await admin.post<any>("/datastore/store1/release", {})).toMatchObject({ mode: "online", previous: "quarantined" });
    const again = await refusal(admin.post("/datastore/store1/release"));
    expect([again.status, again.code]).toEqual([409, "conflict"]);
    // Writes work again: a backup session starts (and is abandoned).
    const started = await admin.post<any>("/backup", backupStart);
    await admin.delete(`/backup/${started.session}`);
  });

  test("reindex, and namespaces: create, list, refuse removing a non-empty one, remove", async () => {
    expect(await admin.post<any>("/datastore/store1/reindex")).toMatchObject({ name: "store1", unchanged: true, differences: 0 });

    expect(await admin.post<any>("/datastore/store1/namespaces", { ns: "prod/web" })).toEqual({ store: "store1", ns: "prod/web", changed: true });
    expect(await admin.post<any>("/datastore/store1/namespaces", { ns: "/prod/web/" })).toEqual({ store: "store1", ns: "prod/web", changed: false });
    expect(await admin.get<any[]>("/datastore/store1/namespaces")).toEqual([
      { ns: "prod", depth: 1 },
      { ns: "prod/web", depth: 2 },
    ]);
    expect(await admin.get<any[]>("/datastore/store1/namespaces", { parent: "prod" })).toEqual([{ ns: "prod/web", depth: 2 }]);
    const busy = await refusal(admin.delete("/datastore/store1/namespaces", { ns: "prod" }));
    expect([busy.status, busy.code, busy.message]).toEqual([409, "conflict", expect.stringContaining("namespace prod is not empty")]);
    const gone = await refusal(admin.delete("/datastore/store1/namespaces", { ns: "test" }));
    expect([gone.status, gone.message]).toEqual([404, expect.stringContaining("namespace 'test' does not exist in datastore store1")]);
    await admin.delete("/datastore/store1/namespaces", { ns: "prod/web" });
    expect(await admin.delete<any>("/datastore/store1/namespaces", { ns: "prod" })).toMatchObject({ ns: "prod", changed: true });
    expect(await admin.get<any[]>("/datastore/store1/namespaces")).toEqual([]);
  });

  test("403 without the privilege; the list shows only stores the caller may audit", async () => {
    expect((await auditor.get<any[]>("/datastore")).map((d) => d.name)).toEqual(["store1"]);
    expect(await auditor.get<any>("/datastore/store1/stats")).toMatchObject({ name: "store1" });
    // Each call is made when its turn comes: sent all at once, a refusal that arrives before
    // the loop awaits it is an unhandled rejection.
    const refusals: [() => Promise<unknown>, string][] = [
      [() => auditor.get("/datastore/local"), "Datastore.Audit on /datastore/local"],
      [() => auditor.post("/datastore/store1/quarantine", { reason: "x" }), "Datastore.Modify on /datastore/store1"],
      [() => auditor.post("/datastore/store1/namespaces", { ns: "dave" }), "Datastore.Modify on /datastore/store1/dave"],
      [() => auditor.post("/datastore", { name: "store2", path: join(root, "store2") }), "Datastore.Allocate on /datastore"],
      // DatastoreAdmin manages stores but, as in PBS, does not register or remove them.
      [() => storeAdmin.post("/datastore", { name: "store2", path: join(root, "store2") }), "Datastore.Allocate on /datastore"],
      [() => storeAdmin.delete("/datastore/store1"), "Datastore.Allocate on /datastore/store1"],
    ];
    for (const [call, needed] of refusals) {
      const e = await refusal(call());
      expect(`${e.status} ${e.code}`).toBe("403 forbidden");
      expect(e.message).toContain(`permission check failed: ${needed} is required`);
    }
    expect(existsSync(join(root, "store2"))).toBe(false);
    expect((await admin.get<any>("/datastore/store1")).mode).toBe("online");
    expect((await storeAdmin.put<any>("/datastore/store1/mode", { mode: "online" })).mode).toBe("online");
    expect((await storeAdmin.get<any[]>("/datastore")).map((d) => d.name)).toEqual(["local", "store1"]);
  });

  test("remove with destroy-data deletes the content; the changes are in the audit log", async () => {
    expect(await admin.delete<any>("/datastore/store1", { "destroy-data": 1 })).toMatchObject({ name: "store1", destroyed: true, leftovers: [] });
    expect(existsSync(store1())).toBe(false);
    expect((await refusal(admin.get("/datastore/store1"))).status).toBe(404);
    expect((await admin.get<any[]>("/datastore")).map((d) => d.name)).toEqual(["local"]);

    const log = await admin.get<any[]>("/audit", { "auth-id": "admin@ibs", limit: 200 });
    const entries = log.filter((e) => e.action.startsWith("datastore.") && e.target?.startsWith("store1"));
    const okActions = entries.filter((e) => e.result === "ok").map((e) => e.action);
    for (const a of ["datastore.create", "datastore.mode", "datastore.quarantine", "datastore.release", "datastore.reindex", "datastore.namespace.create", "datastore.namespace.remove", "datastore.remove"]) {
      expect(okActions).toContain(a);
    }
    expect(entries.find((e) => e.action === "datastore.quarantine" && e.result === "ok").details).toEqual({ reason: "ransomware suspected" });
    expect(entries.find((e) => e.action === "datastore.remove" && e.result.startsWith("409"))?.result).toContain("refusing to destroy its data");
  });
});
