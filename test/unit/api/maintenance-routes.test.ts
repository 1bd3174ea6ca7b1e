/**
 * GC and verify over the API, in process (the hono app on a fresh node state, no roles running,
 * so a start leaves a queued task to look at): who may start and look, what a bad option
 * answers, what is queued, the quarantine refusal; and the S3 fields of POST /datastore.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { updateAcl } from "../../../src/access/acl.ts";
import { createToken } from "../../../src/access/tokens.ts";
import { createUser } from "../../../src/access/users.ts";
import type { ApiApp } from "../../../src/api/app.ts";
import { createDatastore, GC_QUARANTINE_REFUSAL, quarantineDatastore, setDatastoreMode } from "../../../src/datastore/admin/index.ts";
import { taskEnv } from "../../../src/tasks/env.ts";
import { getTask } from "../../../src/tasks/queue.ts";
import { testApi, testNode, tokenHeader, type TestNode } from "../access/access-test-helpers.ts";

let node: TestNode;
let api: ApiApp;
const who: Record<string, Record<string, string>> = {};

async function grant(name: string, path: string, role: string): Promise<void> {
  const userid = `${name}@ibs`;
  await createUser(node.db, { userid });
  updateAcl(node.db, { path, authId: userid, role, propagate: true });
  who[name] = tokenHeader(`${userid}!t`, createToken(node.db, `${userid}!t`, { privsep: false }).secret);
}

beforeAll(async () => {
  node = testNode();
  api = testApi(node);
  for (const s of ["st1", "quar", "rost"]) await createDatastore(node.db, { name: s, path: join(node.dir, "stores", s) });
  await quarantineDatastore(node.db, "quar", "ransomware suspected");
  await setDatastoreMode(node.db, "rost", "read-only", "disk swap");
  await grant("admin", "/", "Admin");
  await grant("dsadmin", "/datastore/st1", "DatastoreAdmin");
  await grant("reader", "/datastore/st1/prod", "DatastoreReader");
  await grant("auditor", "/datastore/st1", "DatastoreAudit");
  await grant("backup", "/datastore/st1", "DatastoreBackup");
});

async function call(as: string | null, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await api.app.request(`/api/v1${path}`, {
    method,
    headers: { ...(as ? who[as] : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, json: await r.json() };
}

const queued = (upid: string) => getTask(taskEnv(node.config, node.db), upid);

describe("privileges", () => {
  // [caller, method, path, body, expected status]
  const table: [string, string, string, unknown, number][] = [
    ["admin", "POST", "/datastore/st1/gc", {}, 200],
    ["dsadmin", "POST", "/datastore/st1/gc", {}, 200],
    ["reader", "POST", "/datastore/st1/gc", {}, 403],
    ["auditor", "POST", "/datastore/st1/gc", {}, 403],
    ["backup", "POST", "/datastore/st1/gc", {}, 403],
    ["dsadmin", "POST", "/datastore/st1/verify", {}, 200],
    ["reader", "POST", "/datastore/st1/verify", { ns: "prod" }, 200],
    ["reader", "POST", "/datastore/st1/verify", { ns: "prod/web" }, 200],
    ["reader", "POST", "/datastore/st1/verify", {}, 403],
    ["reader", "POST", "/datastore/st1/verify", { ns: "dev" }, 403],
    ["auditor", "POST", "/datastore/st1/verify", {}, 403],
    ["backup", "POST", "/datastore/st1/verify", {}, 403],
    ["auditor", "GET", "/datastore/st1/gc", undefined, 200],
    ["auditor", "GET", "/datastore/st1/verify", undefined, 200],
    ["backup", "GET", "/datastore/st1/gc", undefined, 403],
    ["backup", "GET", "/datastore/st1/verify", undefined, 403],
    ["dsadmin", "POST", "/datastore", { name: "nope", backend: "s3", "s3-endpoint": "ceph1", bucket: "b-1", "cache-dir": "/tmp/x" }, 403],
  ];
  for (const [as, method, path, body, status] of table) {
    test(`${as}: ${method} ${path} ${body ? JSON.stringify(body) : ""} -> ${status}`, async () => {
      const r = await call(as, method, path, body);
      expect(r.status).toBe(status);
      if (status === 403) {
        expect(r.json.error.code).toBe("forbidden");
        expect(r.json.error.details.privilege).toBe(method === "GET" ? "Datastore.Audit" : path.endsWith("/gc") ? "Datastore.Modify" : path.endsWith("/verify") ? "Datastore.Verify" : "Datastore.Allocate");
      }
    });
  }

  test("without credentials: 401", async () => {
    for (const [method, path] of [["POST", "/datastore/st1/gc"], ["GET", "/datastore/st1/verify"]] as const) expect((await call(null, method, path)).status).toBe(401);
  });
});

describe("starting", () => {
  test("GC: queued for the gc role with the caller as the task's auth-id and the options as the CLI stores them", async () => {
    const r = await call("dsadmin", "POST", "/datastore/st1/gc", { "grace-seconds": 0 });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ upid: expect.stringMatching(/^UPID:.*:gc:st1:dsadmin@ibs!t:$/), state: "queued" });
    const row = queued(r.json.upid)!;
    expect([row.type, row.workerId, row.authId, row.status]).toEqual(["gc", "st1", "dsadmin@ibs!t", "queued"]);
    expect(JSON.parse(row.params)).toEqual({ store: "st1", options: { "grace-seconds": "0" } });

    const status = await call("auditor", "GET", "/datastore/st1/gc");
    expect(status.json).toMatchObject({ datastore: "st1", running: null, last: null, nextScheduled: null });
    expect(status.json.tasks).toContainEqual({ upid: r.json.upid, status: "queued" });
  });

  test("verify: every option of `verify start`, stored as the CLI stores them", async () => {
    const body = {
      ns: "prod/",
      "ignore-verified": false,
      "outdated-after": 30,
      "max-concurrent-snapshots": 3,
      "notification-mode": "error",
    };
    const r = await call("dsadmin", "POST", "/datastore/st1/verify", body);
    expect(r.status).toBe(200);
    const row = queued(r.json.upid)!;
    expect([row.type, row.workerId, row.authId]).toEqual(["verify", "st1", "dsadmin@ibs!t"]);
    expect(JSON.parse(row.params).options).toEqual({ ns: "prod", "ignore-verified": "false", "outdated-after": "30", "max-concurrent-snapshots": "3", "notification-mode": "error" });
    const one = await call("dsadmin", "POST", "/datastore/st1/verify", { snapshot: "host/web1/2026-11-26T19:00:00Z", ns: "" });
    expect(JSON.parse(queued(one.json.upid)!.params).options).toEqual({ snapshot: "host/web1/2026-11-26T19:00:00Z" });

    const status = await call("auditor", "GET", "/datastore/st1/verify");
    expect(status.json).toMatchObject({ datastore: "st1", last: null, error: null, nextScheduled: null });
    expect(status.json.running.map((t: any) => t.upid)).toEqual(expect.arrayContaining([r.json.upid, one.json.upid]));
  });
});

describe("refusals", () => {
  const bad: [string, string, unknown, string, string][] = [
    ["gc", "/datastore/st1/gc", { "grace-seconds": -1 }, "body.grace-seconds", "expected a whole number of seconds, got '-1'"],
    ["gc", "/datastore/st1/gc", { "grace-seconds": "0" }, "body.grace-seconds", "expected number"],
    ["gc", "/datastore/st1/gc", { grace: 1 }, "body", "unknown field 'grace'"],
    ["verify", "/datastore/st1/verify", { "outdated-after": 0 }, "body.outdated-after", "expected a whole number of at least 1, got '0'"],
    ["verify", "/datastore/st1/verify", { "max-concurrent-snapshots": 1.5 }, "body.max-concurrent-snapshots", "got '1.5'"],
    ["verify", "/datastore/st1/verify", { "verify-window-days": 0 }, "body.verify-window-days", "at least 1"],
    ["verify", "/datastore/st1/verify", { "notification-mode": "loud" }, "body.notification-mode", "'loud' is not a notification mode"],
    ["verify", "/datastore/st1/verify", { snapshot: "vm/100" }, "body.snapshot", "is not TYPE/ID/TIME"],
    ["verify", "/datastore/st1/verify", { snapshot: "host/web1/2026-11-26T19:00:00Z", "verify-window-days": 7 }, "body.verify-window-days", "do not go together"],
    ["verify", "/datastore/st1/verify", { ns: "a/../b" }, "body.ns", "component '..' is invalid"],
    ["verify", "/datastore/st1/verify", { "ignore-verified": "yes" }, "body.ignore-verified", "expected boolean"],
    ["verify", "/datastore/st1/verify", { colour: "red" }, "body", "unknown field 'colour'"],
  ];
  for (const [what, path, body, field, message] of bad) {
    test(`${what} ${JSON.stringify(body)}: 400 naming ${field}`, async () => {
      const before = (await call("admin", "GET", path)).json;
      const r = await call("admin", "POST", path, body);
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe("invalid_request");
      expect(r.json.error.details.field).toBe(field);
      expect(r.json.error.message).toStartWith(`${field}: `);
      expect(r.json.error.message).toContain(message);
      // Nothing was queued.
      expect((await call("admin", "GET", path)).json).toEqual(before);
    });
  }

  test("GC of a quarantined store: 409 with the CLI's message, nothing queued", async () => {
    const r = await call("admin", "POST", "/datastore/quar/gc", {});
    expect([r.status, r.json.error.code, r.json.error.message]).toEqual([409, "quarantined", GC_QUARANTINE_REFUSAL]);
    expect(r.json.error.details.hint).toContain("ironcore-backup datastore release quar");
    expect((await call("admin", "GET", "/datastore/quar/gc")).json.tasks).toEqual([]);
    // Verify still runs on a quarantined store.
    expect((await call("admin", "POST", "/datastore/quar/verify", {})).status).toBe(200);
  });

  test("GC of a read-only store: 409 read_only naming the reason", async () => {
    const r = await call("admin", "POST", "/datastore/rost/gc", {});
    expect([r.status, r.json.error.code]).toEqual([409, "read_only"]);
    expect(r.json.error.message).toContain("disk swap");
  });

  test("an unknown store: 404", async () => {
    for (const [method, path] of [["POST", "/datastore/nosuch/gc"], ["GET", "/datastore/nosuch/gc"], ["POST", "/datastore/nosuch/verify"], ["GET", "/datastore/nosuch/verify"]] as const) {
      const r = await call("admin", method, path, method === "POST" ? {} : undefined);
      expect(`${method} ${path}: ${r.status}`).toBe(`${method} ${path}: 404`);
      expect(r.json.error.message).toContain("datastore 'nosuch' is not registered on this node");
    }
  });
});

describe("POST /datastore with backend s3", () => {
  const base = { name: "offsite", backend: "s3", "s3-endpoint": "ceph1", bucket: "ibs-offsite" };
  const cases: [string, Record<string, unknown>, string, string][] = [
    ["no endpoint", { name: "offsite", backend: "s3", bucket: "ibs-offsite", "cache-dir": "/tmp/c" }, "body.s3-endpoint", "needs an endpoint"],
    ["no bucket", { name: "offsite", backend: "s3", "s3-endpoint": "ceph1", "cache-dir": "/tmp/c" }, "body.bucket", "needs a bucket"],
    ["no cache dir", base, "body.cache-dir", "local directory"],
    ["two different directories", { ...base, path: "/tmp/a", "cache-dir": "/tmp/b" }, "body.path", "once"],
    ["reuse", { ...base, "cache-dir": "/tmp/c", reuse: true }, "body.reuse", "reuse is for local datastores"],
    ["bad bucket", { ...base, bucket: "Bad_Bucket", "cache-dir": "/tmp/c" }, "body.bucket", "lowercase"],
    ["bad prefix", { ...base, prefix: "/x", "cache-dir": "/tmp/c" }, "body.prefix", "must not start or end with '/'"],
    ["bad cache size", { ...base, "cache-dir": "/tmp/c", "cache-size": "lots" }, "body.cache-size", "is not a size"],
    ["negative cache size", { ...base, "cache-dir": "/tmp/c", "cache-size": -5 }, "body.cache-size", "not a whole number of bytes"],
    ["unknown backend", { ...base, backend: "nfs", "cache-dir": "/tmp/c" }, "body.backend", ""],
    ["relative cache dir", { ...base, "cache-dir": "cache/c" }, "body.cache-dir", "is not absolute"],
    ["S3 fields on a local store", { name: "loc", path: "/tmp/l", bucket: "ibs-x" }, "body.bucket", 'is for backend "s3"'],
    ["local store without path", { name: "loc" }, "body.path", "required"],
  ];
  for (const [what, body, field, message] of cases) {
    test(`${what}: 400 naming ${field}`, async () => {
      const r = await call("admin", "POST", "/datastore", body);
      expect(`${r.status} ${r.json.error.details.field}`).toBe(`400 ${field}`);
      expect(r.json.error.message).toContain(message);
    });
  }

  test("an endpoint that is not configured: 400 naming body.s3-endpoint, nothing made", async () => {
    const cacheDir = join(node.dir, "cache", "offsite");
    const r = await call("admin", "POST", "/datastore", { ...base, "cache-dir": cacheDir, "cache-size": "64MiB" });
    expect([r.status, r.json.error.details.field]).toEqual([400, "body.s3-endpoint"]);
    expect(r.json.error.message).toBe("body.s3-endpoint: S3 endpoint 'ceph1' does not exist on this node");
    expect(r.json.error.details.hint).toContain("s3 endpoint list");
    expect((await call("admin", "GET", "/datastore")).json.map((d: any) => d.name)).not.toContain("offsite");
  });
});
