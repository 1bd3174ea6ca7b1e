/** Bad input is refused with 400 naming what was wrong, and changes nothing. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminPassword, apiFetch } from "../../helpers/ibs.ts";
import { cliJson, startApiNode, tokenAuth, type ApiNode } from "./api-fixture.ts";

let node: ApiNode;
let auth: Record<string, string>;
beforeAll(async () => {
  node = await startApiNode();
  const t = cliJson(node, ["user", "token", "create", "admin@ibs", "v", "--no-privsep"]);
  auth = tokenAuth(t.tokenid, t.secret);
});
afterAll(() => node.proc.kill("SIGKILL"));

async function send(method: string, path: string, body?: string | Uint8Array | ReadableStream, headers: Record<string, string> = {}) {
  const r = await apiFetch(node.dir, node.port, `/api/v1${path}`, { method, body, headers: { ...auth, "content-type": "application/json", ...headers } });
  return { status: r.status, error: ((await r.json()) as any).error };
}

describe("refused with 400, naming the problem", () => {
  test("malformed JSON", async () => {
    const r = await send("POST", "/access/users", '{"userid": "x@ibs",');
    expect(r.status).toBe(400);
    expect(r.error.message).toStartWith("request body is not valid JSON");
  });

  test("oversized bodies, with and without Content-Length", async () => {
    const big = JSON.stringify({ userid: "big@ibs", comment: "x".repeat(100_000) });
    const r = await send("POST", "/access/users", big);
    expect(r.status).toBe(400);
    expect(r.error.message).toBe("request body is larger than 65536 bytes");
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 20; i++) c.enqueue(new TextEncoder().encode("x".repeat(8192)));
        c.close();
      },
    });
    const chunked = await send("POST", "/access/users", stream);
    expect(chunked.status).toBe(400);
    expect(chunked.error.message).toContain("larger than");
  });

  test("bad UTF-8 in a name, in the body and in the URL", async () => {
    const bytes = Buffer.concat([Buffer.from('{"userid":"b'), Buffer.from([0xff, 0xfe]), Buffer.from('d@ibs"}')]);
    const r = await send("POST", "/access/users", bytes);
    expect(r.status).toBe(400);
    expect(r.error.message).toBe("request body is not valid UTF-8");
    const url = await send("GET", "/access/users/b%FF%FEd@ibs");
    expect(url.status).toBe(400);
    expect(url.error.details.field).toBe("params.userid");
  });

  test("path traversal in names and paths", async () => {
    const body = await send("POST", "/access/users", JSON.stringify({ userid: "../../etc@ibs" }));
    expect(body.status).toBe(400);
    expect(body.error.details.field).toBe("body.userid");
    expect(body.error.message).toContain("may only contain");
    const inUrl = await send("DELETE", "/access/users/..%2F..%2Fadmin@ibs");
    expect(`${inUrl.status} ${inUrl.error.message}`).toStartWith("400");
    expect(inUrl.error.details.field).toBe("params.userid");
    const token = await send("POST", "/access/users/admin@ibs/tokens/..%2F..%2Fx");
    expect(`${token.status} ${token.error.message}`).toStartWith("400");
    expect(token.error.details.field).toBe("params.token");
    const acl = await send("PUT", "/access/acl", JSON.stringify({ path: "/datastore/../system", role: "Admin", "auth-id": "admin@ibs" }));
    expect(acl.status).toBe(400);
    expect(acl.error.details.field).toBe("body.path");
  });

  test("missing, unknown and mistyped fields are named", async () => {
    const missing = await send("POST", "/access/users", JSON.stringify({}));
    expect([missing.status, missing.error.details.field]).toEqual([400, "body.userid"]);
    const unknown = await send("POST", "/access/users", JSON.stringify({ userid: "u1@ibs", bogus: 1 }));
    expect(unknown.status).toBe(400);
    expect(unknown.error.message).toContain("unknown field 'bogus'");
    const typed = await send("PUT", "/access/acl", JSON.stringify({ path: "/", role: "Superuser", "auth-id": "admin@ibs" }));
    expect([typed.status, typed.error.details.field]).toEqual([400, "body.role"]);
    const query = await send("GET", "/audit?limit=abc");
    expect([query.status, query.error.details.field]).toEqual([400, "query.limit"]);
  });

  test("...and none of it changed anything", () => {
    expect(cliJson<any[]>(node, ["user", "list"]).map((u) => u.userid)).toEqual(["admin@ibs"]);
    expect(cliJson<any[]>(node, ["acl", "list"]).map((e) => `${e.path} ${e.authId} ${e.role}`)).toEqual(["/ admin@ibs Admin"]);
    const refused = cliJson<any[]>(node, ["audit", "list"]).filter((e) => e.authId === "admin@ibs!v");
    expect(refused.length).toBeGreaterThan(5);
    expect(refused.every((e) => e.result.startsWith("400 "))).toBe(true);
  });
});

describe("login ticket, CSRF and throttling", () => {
  const login = (username: string, password: string) =>
    apiFetch(node.dir, node.port, "/api/v1/access/ticket", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username, password }) });

  test("the cookie authenticates; changes also need the CSRF token", async () => {
    const r = await login("admin@ibs", adminPassword(node.dir));
    expect(r.status).toBe(200);
    const { ticket, CSRFPreventionToken } = (await r.json()) as any;
    expect(r.headers.get("set-cookie")).toContain("IBSAuthCookie=");
    expect(r.headers.get("set-cookie")).toContain("Secure");
    const cookie = { cookie: `IBSAuthCookie=${encodeURIComponent(ticket)}` };
    expect((await apiFetch(node.dir, node.port, "/api/v1/access/users", { headers: cookie })).status).toBe(200);
    const body = JSON.stringify({ userid: "csrf@ibs" });
    const noCsrf = await apiFetch(node.dir, node.port, "/api/v1/access/users", { method: "POST", body, headers: { ...cookie, "content-type": "application/json" } });
    expect(noCsrf.status).toBe(401);
    expect(((await noCsrf.json()) as any).error.message).toContain("CSRFPreventionToken");
    const withCsrf = await apiFetch(node.dir, node.port, "/api/v1/access/users", {
      method: "POST",
      body,
      headers: { ...cookie, "content-type": "application/json", CSRFPreventionToken },
    });
    expect(withCsrf.status).toBe(200);
  });

  test("failed logins are throttled per user: then even the right password waits", async () => {
    for (let i = 0; i < 5; i++) expect((await login("admin@ibs", `wrong-${i}-password`)).status).toBe(401);
    const blocked = await login("admin@ibs", adminPassword(node.dir));
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await blocked.json()) as any).error.message).toContain("too many failed logins for admin@ibs");
    // other users and token clients are not affected
    expect((await apiFetch(node.dir, node.port, "/api/v1/access/users", { headers: auth })).status).toBe(200);
    const audit = cliJson<any[]>(node, ["audit", "list", "--auth-id", "admin@ibs"]).filter((e) => e.action === "login");
    expect(audit.at(-1).result).toContain("429 rate_limited");
  });
});
