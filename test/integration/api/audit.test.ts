import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { adminPassword, apiClient, apiFetch } from "../../helpers/ibs.ts";
import { cliJson, startApiNode, type ApiNode, refusal } from "./api-fixture.ts";

let node: ApiNode;
beforeAll(async () => {
  node = await startApiNode();
  const admin = await apiClient(node.dir, node.port);
  await admin.post("/access/users", { userid: "dave@ibs", password: "dave-password-1", comment: "auditor test" });
  const failed = await apiFetch(node.dir, node.port, "/api/v1/access/ticket", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "dave@ibs", password: "not-daves-password" }),
  });
  expect(failed.status).toBe(401);
  await admin.put("/access/acl", { path: "/datastore/store1", role: "DatastoreBackup", "auth-id": "dave@ibs" });
  await apiClient(node.dir, node.port, { authId: "dave@ibs", password: "dave-password-1" });
});
afterAll(() => node.proc.kill("SIGKILL"));

describe("the audit log", () => {
  test("a created user, a failed login and an ACL change are in `audit list`", () => {
    const entries = cliJson<any[]>(node, ["audit", "list"]);
    const find = (action: string, pred: (e: any) => boolean = () => true) => entries.find((e) => e.action === action && pred(e));
    expect(find("user.create")).toMatchObject({ authId: "admin@ibs", source: "127.0.0.1", target: "dave@ibs", result: "ok" });
    expect(find("login", (e) => e.result !== "ok")).toMatchObject({ authId: "dave@ibs", source: "127.0.0.1", result: "401 unauthorized: wrong password" });
    expect(find("login", (e) => e.authId === "dave@ibs" && e.result === "ok")).toBeDefined();
    expect(find("acl.update")).toMatchObject({ authId: "admin@ibs", target: "/datastore/store1 dave@ibs DatastoreBackup", result: "ok", details: { propagate: true } });
    for (const e of entries) expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const text = node.cli(["audit", "list"]).stdout;
    expect(text).toContain("acl.update");
    expect(text).toContain("TIME (UTC)");
  });

  test("the same events are JSON lines in audit.log, and no secret is in any log", () => {
    const file = readFileSync(join(node.dir, "log", "audit.log"), "utf8");
    const lines = file.trim().split("\n").map((l) => JSON.parse(l));
    const actions = lines.map((l) => `${l.action} ${l.authId} ${l.result.split(":")[0]}`);
    expect(actions).toContain("user.create admin@ibs ok");
    expect(actions).toContain("login dave@ibs 401 unauthorized");
    expect(actions).toContain("acl.update admin@ibs ok");
    for (const l of lines) expect(Object.keys(l)).toEqual(["id", "time", "authId", "source", "action", "target", "result", "details"]);
    const logs = file + readFileSync(join(node.dir, "log", "api.log"), "utf8");
    for (const secret of ["dave-password-1", "not-daves-password", adminPassword(node.dir)]) expect(logs).not.toContain(secret);
  });

  test("filters: --auth-id and --since", () => {
    const dave = cliJson<any[]>(node, ["audit", "list", "--auth-id", "dave@ibs"]);
    expect(dave.length).toBe(2);
    expect(dave.every((e) => e.authId === "dave@ibs" && e.action === "login")).toBe(true);
    expect(cliJson<any[]>(node, ["audit", "list", "--since", "1h"]).length).toBeGreaterThanOrEqual(4);
    expect(cliJson<any[]>(node, ["audit", "list", "--since", `@${Math.floor(Date.now() / 1000) + 60}`])).toEqual([]);
    const bad = node.cli(["audit", "list", "--since", "last tuesday"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--since: cannot read 'last tuesday' as a time");
  });

  test("the API serves the log to Sys.Audit holders only", async () => {
    const admin = await apiClient(node.dir, node.port);
    expect((await admin.get<any[]>("/audit", { "auth-id": "dave@ibs" })).length).toBe(2);
    const dave = await apiClient(node.dir, node.port, { authId: "dave@ibs", password: "dave-password-1" });
    const err = await refusal(dave.get("/audit"));
    expect(err.status).toBe(403);
    expect(err.message).toContain("Sys.Audit on /system/audit");
  });
});
