/**
 * The ACL matrix: for each route group, each role granted on a path that covers the route's
 * ACL path ("matching") and on one that does not: allowed, or 401/403 as the table says.
 * The table of which roles hold which privilege is written out here on purpose, not derived
 * from src/access/roles.ts, so a change to a role shows up as a failing row.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { z } from "zod";
import { join } from "node:path";
import { updateAcl } from "../../../src/access/acl.ts";
import { ROLES } from "../../../src/access/roles.ts";
import { createToken } from "../../../src/access/tokens.ts";
import { createUser } from "../../../src/access/users.ts";
import type { ApiApp } from "../../../src/api/app.ts";
import { createSelfSignedPair } from "../../../src/api/tls/certificate.ts";
import { createDatastore, createNamespace } from "../../../src/datastore/admin/index.ts";
import { route, routeGroup } from "../../../src/api/route.ts";
import { routeGroups } from "../../../src/api/routes/index.ts";
import { testApi, testNode, tokenHeader, type TestNode } from "./access-test-helpers.ts";

const HOLDERS: Record<string, string[]> = {
  "Sys.Audit": ["Admin", "Audit"],
  "Permissions.Modify": ["Admin"],
  "Sys.Modify": ["Admin"],
  "Datastore.Backup": ["Admin", "DatastoreAdmin", "DatastoreBackup", "DatastorePowerUser"],
  "Datastore.Read": ["Admin", "DatastoreAdmin", "DatastoreReader"],
  "Datastore.Prune": ["Admin", "DatastoreAdmin", "DatastorePowerUser"],
  "Datastore.Verify": ["Admin", "DatastoreAdmin", "DatastoreReader"],
  "Datastore.Audit": ["Admin", "Audit", "DatastoreAdmin", "DatastoreReader", "DatastoreAudit"],
  "Datastore.Modify": ["Admin", "DatastoreAdmin"],
  "Datastore.Allocate": ["Admin"],
  "Remote.Read": ["Admin", "RemoteAdmin", "RemoteSyncOperator"],
  "Remote.Modify": ["Admin", "RemoteAdmin"],
  "Tape.Write": ["Admin", "TapeAdmin", "TapeOperator"],
  authenticated: [...ROLES],
};

// Stand-ins for route groups that later issues add (datastore, remote, tape), declared the
// same way, so the matrix also covers datastore/namespace, remote and tape paths.
const ok = () => ({ ok: true });
const futureGroups = [
  routeGroup("datastore (stand-in)", [
    route({ method: "POST", path: "/m/datastore/:store/backup", summary: "t", access: { priv: "Datastore.Backup", path: "/datastore/{store}/{ns}" },
      params: z.strictObject({ store: z.string() }), query: z.strictObject({ ns: z.string().optional() }), audit: { action: "t" }, handler: ok }),
    route({ method: "GET", path: "/m/datastore/:store/read", summary: "t", access: { priv: "Datastore.Read", path: "/datastore/{store}" },
      params: z.strictObject({ store: z.string() }), handler: ok }),
    route({ method: "DELETE", path: "/m/datastore/:store/prune", summary: "t", access: { priv: "Datastore.Prune", path: "/datastore/{store}" },
      params: z.strictObject({ store: z.string() }), audit: { action: "t" }, handler: ok }),
  ]),
  routeGroup("remote (stand-in)", [
    route({ method: "GET", path: "/m/remote/:name", summary: "t", access: { priv: "Remote.Read", path: "/remote/{name}" }, params: z.strictObject({ name: z.string() }), handler: ok }),
    route({ method: "PUT", path: "/m/remote/:name", summary: "t", access: { priv: "Remote.Modify", path: "/remote/{name}" }, params: z.strictObject({ name: z.string() }), audit: { action: "t" }, handler: ok }),
  ]),
  routeGroup("tape (stand-in)", [
    route({ method: "POST", path: "/m/tape/:drive", summary: "t", access: { priv: "Tape.Write", path: "/tape/drive/{drive}" }, params: z.strictObject({ drive: z.string() }), audit: { action: "t" }, handler: ok }),
  ]),
];

interface Case {
  group: string;
  what: string;
  need: keyof typeof HOLDERS;
  /** A grant here covers the route's ACL path. */
  matching: string;
  /** A grant here does not. */
  other: string;
  request: (i: number) => { method: string; url: string; body?: unknown };
  /** Makes what request(i) removes. */
  prepare?: (i: number) => Promise<unknown>;
}

const storePath = (name: string) => join(node.dir, "stores", name);

const CASES: Case[] = [
  { group: "users", what: "list users", need: "Sys.Audit", matching: "/access", other: "/datastore/s1", request: () => ({ method: "GET", url: "/access/users" }) },
  { group: "users", what: "show a user", need: "Sys.Audit", matching: "/access/users", other: "/access/acl", request: () => ({ method: "GET", url: "/access/users/fixture@ibs" }) },
  { group: "users", what: "create a user", need: "Permissions.Modify", matching: "/", other: "/access/acl", request: (i) => ({ method: "POST", url: "/access/users", body: { userid: `new${i}@ibs` } }) },
  { group: "users", what: "change a user", need: "Permissions.Modify", matching: "/access/users", other: "/system", request: () => ({ method: "PUT", url: "/access/users/fixture@ibs", body: { comment: "x" } }) },
  { group: "users", what: "remove a user", need: "Permissions.Modify", matching: "/access", other: "/datastore", request: (i) => ({ method: "DELETE", url: `/access/users/victim${i}@ibs` }) },
  { group: "tokens", what: "list tokens", need: "Sys.Audit", matching: "/access/users", other: "/remote", request: () => ({ method: "GET", url: "/access/users/fixture@ibs/tokens" }) },
  { group: "tokens", what: "create a token", need: "Permissions.Modify", matching: "/access/users", other: "/tape", request: (i) => ({ method: "POST", url: `/access/users/fixture@ibs/tokens/t${i}` }) },
  { group: "acl", what: "list ACL", need: "Sys.Audit", matching: "/access/acl", other: "/access/users", request: () => ({ method: "GET", url: "/access/acl" }) },
  { group: "acl", what: "grant on a datastore", need: "Permissions.Modify", matching: "/datastore/s1", other: "/datastore/s2",
    request: () => ({ method: "PUT", url: "/access/acl", body: { path: "/datastore/s1/ns1", role: "DatastoreAudit", "auth-id": "fixture@ibs" } }) },
  { group: "acl", what: "own permissions", need: "authenticated", matching: "/", other: "/tape", request: () => ({ method: "GET", url: "/access/permissions?path=/datastore" }) },
  { group: "audit", what: "read the audit log", need: "Sys.Audit", matching: "/system", other: "/datastore", request: () => ({ method: "GET", url: "/audit?limit=5" }) },
  { group: "certificate", what: "certificate info", need: "Sys.Audit", matching: "/system/certificates", other: "/system/network", request: () => ({ method: "GET", url: "/system/certificate" }) },
  { group: "keys", what: "list registered keys", need: "Sys.Audit", matching: "/system/keys", other: "/datastore", request: () => ({ method: "GET", url: "/keys" }) },
  { group: "keys", what: "register a key", need: "Sys.Modify", matching: "/system", other: "/system/network",
    request: (i) => ({ method: "POST", url: "/keys", body: { fingerprint: Array.from({ length: 32 }, (_, b) => ((i * 7 + b) & 0xff).toString(16).padStart(2, "0")).join(":") } }) },
  { group: "datastore", what: "back up into a namespace", need: "Datastore.Backup", matching: "/datastore/s1", other: "/datastore/s2", request: () => ({ method: "POST", url: "/m/datastore/s1/backup?ns=a/b" }) },
  { group: "datastore", what: "read a store", need: "Datastore.Read", matching: "/datastore", other: "/datastore/s2", request: () => ({ method: "GET", url: "/m/datastore/s1/read" }) },
  { group: "datastore", what: "prune a store", need: "Datastore.Prune", matching: "/datastore/s1", other: "/remote/s1", request: () => ({ method: "DELETE", url: "/m/datastore/s1/prune" }) },
  // The datastore administration routes, on the stores st1 and qst made in beforeAll.
  { group: "datastores", what: "list datastores (filtered per store)", need: "authenticated", matching: "/", other: "/tape", request: () => ({ method: "GET", url: "/datastore" }) },
  { group: "datastores", what: "show a datastore", need: "Datastore.Audit", matching: "/datastore/st1", other: "/datastore/st2", request: () => ({ method: "GET", url: "/datastore/st1" }) },
  { group: "datastores", what: "datastore stats", need: "Datastore.Audit", matching: "/datastore", other: "/remote", request: () => ({ method: "GET", url: "/datastore/st1/stats" }) },
  { group: "datastores", what: "probe a datastore", need: "Datastore.Audit", matching: "/", other: "/system", request: () => ({ method: "GET", url: "/datastore/st1/probe" }) },
  { group: "datastores", what: "create a datastore", need: "Datastore.Allocate", matching: "/datastore", other: "/datastore/st1",
    request: (i) => ({ method: "POST", url: "/datastore", body: { name: `made${i}`, path: storePath(`made${i}`) } }) },
  { group: "datastores", what: "remove a datastore", need: "Datastore.Allocate", matching: "/", other: "/datastore/st1",
    prepare: (i) => createDatastore(node.db, { name: `gone${i}`, path: storePath(`gone${i}`) }), request: (i) => ({ method: "DELETE", url: `/datastore/gone${i}?destroy-data=1` }) },
  { group: "datastores", what: "set a datastore's mode", need: "Datastore.Modify", matching: "/datastore/st1", other: "/datastore/st2",
    request: () => ({ method: "PUT", url: "/datastore/st1/mode", body: { mode: "online" } }) },
  { group: "datastores", what: "quarantine a datastore", need: "Datastore.Modify", matching: "/datastore/qst", other: "/datastore/st1",
    request: () => ({ method: "POST", url: "/datastore/qst/quarantine", body: { reason: "matrix" } }) },
  { group: "datastores", what: "reindex a datastore", need: "Datastore.Modify", matching: "/datastore", other: "/system", request: () => ({ method: "POST", url: "/datastore/st1/reindex" }) },
  { group: "datastore maintenance", what: "start GC", need: "Datastore.Modify", matching: "/datastore/st1", other: "/datastore/st2", request: () => ({ method: "POST", url: "/datastore/st1/gc", body: {} }) },
  { group: "datastore maintenance", what: "GC status", need: "Datastore.Audit", matching: "/datastore", other: "/system", request: () => ({ method: "GET", url: "/datastore/st1/gc" }) },
  { group: "datastore maintenance", what: "start a verification of a namespace", need: "Datastore.Verify", matching: "/datastore/st1/prod", other: "/datastore/st1/dev",
    request: () => ({ method: "POST", url: "/datastore/st1/verify", body: { ns: "prod" } }) },
  { group: "datastore maintenance", what: "verify status", need: "Datastore.Audit", matching: "/datastore/st1", other: "/datastore/st2", request: () => ({ method: "GET", url: "/datastore/st1/verify" }) },
  { group: "datastore-namespaces", what: "list namespaces", need: "Datastore.Audit", matching: "/datastore/st1", other: "/datastore/st2", request: () => ({ method: "GET", url: "/datastore/st1/namespaces" }) },
  { group: "datastore-namespaces", what: "create a namespace", need: "Datastore.Modify", matching: "/datastore/st1", other: "/datastore/st1/dev",
    request: () => ({ method: "POST", url: "/datastore/st1/namespaces", body: { ns: "prod" } }) },
  { group: "datastore-namespaces", what: "remove a namespace", need: "Datastore.Modify", matching: "/datastore/st1/tmp", other: "/datastore/st2",
    prepare: (i) => createNamespace(node.db, "st1", `tmp/n${i}`), request: (i) => ({ method: "DELETE", url: `/datastore/st1/namespaces?ns=tmp/n${i}` }) },
  { group: "remote", what: "read a remote", need: "Remote.Read", matching: "/remote/offsite", other: "/remote/other", request: () => ({ method: "GET", url: "/m/remote/offsite" }) },
  { group: "remote", what: "change a remote", need: "Remote.Modify", matching: "/remote", other: "/datastore/offsite", request: () => ({ method: "PUT", url: "/m/remote/offsite" }) },
  { group: "tape", what: "write a tape", need: "Tape.Write", matching: "/tape", other: "/tape/changer", request: () => ({ method: "POST", url: "/m/tape/lto1" }) },
];

let node: TestNode;
let api: ApiApp;
const secrets = new Map<string, string>();
let counter = 0;

beforeAll(async () => {
  node = testNode();
  await createSelfSignedPair(node.config.tls, { nodeName: "matrix" });
  api = testApi(node, { groups: [...routeGroups, ...futureGroups] });
  await createUser(node.db, { userid: "fixture@ibs" });
  await createDatastore(node.db, { name: "st1", path: storePath("st1") });
  await createDatastore(node.db, { name: "qst", path: storePath("qst") });
  // One user per (role, grant path); its token has the user's rights (no privilege separation).
  const paths = new Set(CASES.flatMap((c) => [c.matching, c.other]));
  for (const role of ROLES) {
    for (const path of paths) {
      const userid = `${role.toLowerCase()}${[...paths].indexOf(path)}@ibs`;
      await createUser(node.db, { userid });
      updateAcl(node.db, { path, authId: userid, role, propagate: true });
      secrets.set(`${role} ${path}`, createToken(node.db, `${userid}!t`, { privsep: false }).secret);
    }
  }
});

async function call(c: Case, headers: Record<string, string>): Promise<Response> {
  const i = counter++;
  if (c.what === "remove a user") await createUser(node.db, { userid: `victim${i}@ibs` });
  await c.prepare?.(i);
  const r = c.request(i);
  return api.app.request(`/api/v1${r.url}`, {
    method: r.method,
    headers: { ...headers, ...(r.body !== undefined ? { "content-type": "application/json" } : {}) },
    body: r.body !== undefined ? JSON.stringify(r.body) : undefined,
  });
}

function tokenFor(role: string, path: string): Record<string, string> {
  const paths = [...new Set(CASES.flatMap((c) => [c.matching, c.other]))];
  return tokenHeader(`${role.toLowerCase()}${paths.indexOf(path)}@ibs!t`, secrets.get(`${role} ${path}`)!);
}

describe("ACL matrix", () => {
  for (const c of CASES) {
    test(`${c.group}: ${c.what} (${c.need})`, async () => {
      expect((await call(c, {})).status).toBe(401);
      for (const role of ROLES) {
        const allowed = HOLDERS[c.need].includes(role);
        const onMatching = await call(c, tokenFor(role, c.matching));
        expect(`${role} on ${c.matching}: ${onMatching.status}`).toBe(`${role} on ${c.matching}: ${allowed ? 200 : 403}`);
        const onOther = await call(c, tokenFor(role, c.other));
        const otherAllowed = c.need === "authenticated";
        expect(`${role} on ${c.other}: ${onOther.status}`).toBe(`${role} on ${c.other}: ${otherAllowed ? 200 : 403}`);
        if (!allowed || !otherAllowed) {
          const refused = (await (allowed ? onOther : onMatching).json()) as any;
          expect(refused.error.code).toBe("forbidden");
          expect(refused.error.message).toContain(c.need);
          expect(refused.error.details.privilege).toBe(c.need);
          expect(typeof refused.error.details.path).toBe("string");
        }
      }
    });
  }
});
