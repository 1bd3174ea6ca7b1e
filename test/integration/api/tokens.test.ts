import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { apiClient, apiFetch } from "../../helpers/ibs.ts";
import { cliJson, startApiNode, tokenAuth, type ApiNode, refusal } from "./api-fixture.ts";

let node: ApiNode;
const secrets: Record<string, string> = {};

beforeAll(async () => {
  node = await startApiNode();
  // carol may audit everything, change nothing
  expect(node.cli(["user", "create", "carol@ibs"]).code).toBe(0);
  expect(node.cli(["acl", "update", "/", "Audit", "--auth-id", "carol@ibs"]).code).toBe(0);
  for (const [name, extra] of [["wide", []], ["same", ["--no-privsep"]], ["off", ["--no-privsep"]], ["short", ["--no-privsep"]]] as const) {
    secrets[name] = cliJson(node, ["user", "token", "create", "carol@ibs", name, ...extra]).secret;
  }
  // granted far more than its user has
  expect(node.cli(["acl", "update", "/", "Admin", "--auth-id", "carol@ibs!wide"]).code).toBe(0);
});
afterAll(() => node.proc.kill("SIGKILL"));

const as = (token: string) => apiClient(node.dir, node.port, { authId: `carol@ibs!${token}`, secret: secrets[token] });
const get = (token: string, path: string) => apiFetch(node.dir, node.port, `/api/v1${path}`, { headers: tokenAuth(`carol@ibs!${token}`, secrets[token]) });

describe("API tokens against a running api role", () => {
  test("a token cannot exceed its user's rights, with or without privilege separation", async () => {
    for (const name of ["wide", "same"]) {
      const c = await as(name);
      expect((await c.get<any[]>("/access/users")).map((u) => u.userid)).toEqual(["admin@ibs", "carol@ibs"]);
      const err = await refusal(c.post("/access/users", { userid: "mallory@ibs" }));
      expect(err.status).toBe(403);
      expect(err.message).toContain("Permissions.Modify on /access/users");
      expect((await c.get<any>("/access/permissions", { path: "/" })).privileges).not.toContain("Permissions.Modify");
    }
    expect(cliJson(node, ["user", "list"]).map((u: any) => u.userid)).not.toContain("mallory@ibs");
  });

  test("a disabled token is refused, and works again when enabled", async () => {
    expect((await get("off", "/access/users")).status).toBe(200);
    expect(node.cli(["user", "token", "update", "carol@ibs!off", "--disable"]).code).toBe(0);
    const r = await get("off", "/access/users");
    expect(r.status).toBe(401);
    expect(((await r.json()) as any).error.message).toContain("token is disabled");
    expect(node.cli(["user", "token", "update", "carol@ibs!off", "--enable"]).code).toBe(0);
    expect((await get("off", "/access/users")).status).toBe(200);
  });

  test("an expired token is refused", async () => {
    expect(node.cli(["user", "token", "update", "carol@ibs!short", "--expire", "1s"]).code).toBe(0);
    await Bun.sleep(1100);
    const r = await get("short", "/access/users");
    expect(r.status).toBe(401);
    expect(((await r.json()) as any).error.message).toContain("token has expired");
  });

  test("a wrong secret learns nothing; a disabled user's tokens stop working", async () => {
    const bad = await apiFetch(node.dir, node.port, "/api/v1/access/users", { headers: tokenAuth("carol@ibs!same", "x".repeat(43)) });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as any).error.message).toBe("authentication failed: invalid API token or secret");

    expect(node.cli(["user", "update", "carol@ibs", "--disable"]).code).toBe(0);
    const r = await get("same", "/access/users");
    expect(r.status).toBe(401);
    expect(((await r.json()) as any).error.message).toContain("user is disabled");
    expect(node.cli(["user", "update", "carol@ibs", "--enable"]).code).toBe(0);
  });

  test("a token made over the API shows its secret once; a user may manage its own tokens but not its rights", async () => {
    const admin = await apiClient(node.dir, node.port);
    await admin.put("/access/users/carol@ibs/password", { password: "carol-password-1" });
    const carol = await apiClient(node.dir, node.port, { authId: "carol@ibs", password: "carol-password-1" });
    const made = await carol.post<any>("/access/users/carol@ibs/tokens/own", { comment: "mine", expire: "30d" });
    expect(made.tokenid).toBe("carol@ibs!own");
    expect(made.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const listed = await carol.get<any[]>("/access/users/carol@ibs/tokens");
    expect(listed.find((t) => t.tokenid === "carol@ibs!own")).not.toHaveProperty("secret");
    const grant = await refusal(carol.put("/access/acl", { path: "/", role: "Admin", "auth-id": "carol@ibs!own" }));
    expect(grant.status).toBe(403);
    expect(grant.message).toContain("Permissions.Modify on /");
    // a token is not its user: it cannot mint more tokens
    const own = await apiClient(node.dir, node.port, { authId: "carol@ibs!own", secret: made.secret });
    expect((await refusal(own.post("/access/users/carol@ibs/tokens/more"))).status).toBe(403);
  });
});
