/**
 * Backup and restore sessions against a real `run api` process over HTTPS, driven with the
 * client HTTP module (src/client/http.ts: certificate pinning, JSON calls) and raw fetches on
 * its pinned TLS settings for the byte routes; chunks, indexes and manifests are built with
 * the datastore library. Shows: a round trip with parallel restore fetches; key registration
 * from the admin CLI; a quarantine set by the CLI reaching the running api; slots=1 making a
 * second session fail "all worker slots busy"; kill -9 of the api mid-session leaving no
 * snapshot, and the next api process taking a new session on the group at once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { ApiClient } from "../../../src/client/http.ts";
import { apiClient, ibs, ibsJson, startRole, tempDataDir, waitForApi } from "../../helpers/ibs.ts";
import { backup, call, dynamicIndex, randomChunk, refused, testCrypt, timeAt, type Transport } from "../../unit/backup-server/protocol-driver.ts";

let dir: string;
let port: number;
let api: Subprocess;
let client: ApiClient;
let t: Transport;

/** Raw requests on the client module's pinned TLS settings, with the token in the header. */
function httpsTransport(c: ApiClient, tokenid: string, secret: string): Transport {
  return (method, path, body) => {
    const headers: Record<string, string> = { authorization: `IBSAPIToken=${tokenid}:${secret}` };
    let payload: Uint8Array | string | undefined;
    if (body instanceof Uint8Array) {
      headers["content-type"] = "application/octet-stream";
      payload = body;
    } else if (body !== undefined) {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(body);
    }
    return fetch(c.baseUrl + path, { method, headers, body: payload, tls: c.trust.tls } as RequestInit);
  };
}

async function startApi(): Promise<void> {
  api = startRole(dir, "api");
  await waitForApi(dir, port);
}

beforeAll(async () => {
  ({ dir, port } = tempDataDir("[worker]\nslots = 1\nqueue_timeout = 2\n[backup]\nsession_timeout = 60\n"));
  await startApi();
  const admin = await apiClient(dir, port);
  const { secret } = await admin.post<{ secret: string }>("/access/users/admin@ibs/tokens/backup", { privsep: false });
  client = await apiClient(dir, port, { authId: "admin@ibs!backup", secret });
  t = httpsTransport(client, "admin@ibs!backup", secret);
}, 30_000);

afterAll(() => {
  api?.kill("SIGKILL");
});

const start = (id: string, time: number, extra: Record<string, string> = {}) => ({
  store: "local",
  backupType: "host" as const,
  backupId: id,
  backupTime: timeAt(time),
  cryptMode: "none" as const,
  ...extra,
});

describe("backup sessions over HTTPS", () => {
  test("round trip: upload, finish, list; restore with parallel chunk fetches; the task log has the counts", async () => {
    const chunks = Array.from({ length: 12 }, () => randomChunk(64 * 1024));
    const { started, finished } = await backup(t, start("web1", 1_800_000_000), chunks);
    expect(finished.result).toBe("OK");
    const listed = await client.get<any[]>("/datastore/local/snapshots", { type: "host", id: "web1" });
    expect(listed.map((s) => s.snapshot)).toEqual([finished.snapshot]);

    const r = await client.post<{ session: string; manifest: any }>("/reader", { store: "local", snapshot: finished.snapshot });
    expect(r.manifest.files.map((f: any) => f.filename)).toEqual(["host.conf.blob", "root.pxar.didx"]);
    await call(t, "GET", `/reader/${r.session}/file/root.pxar.didx`);
    const got = await Promise.all(chunks.map((c) => call<Uint8Array>(t, "GET", `/reader/${r.session}/chunk/${c.digest}`)));
    expect(got.every((b, i) => Buffer.from(b).equals(Buffer.from(chunks[i]!.blob)))).toBe(true);
    await client.delete(`/reader/${r.session}`);

    const log = ibs(["task", "log", started.upid, "--data-dir", dir]).stdout;
    expect(log).toContain("uploaded 12 chunks");
    expect(log).toContain("TASK OK");
  });

  test("key register from the admin CLI: an unregistered fingerprint is refused naming it, a registered one works", async () => {
    const crypt = testCrypt();
    const e: any = await client.post("/backup", start("enc", 1_800_000_000, { cryptMode: "encrypt", keyFingerprint: crypt.fingerprint })).catch((err) => err);
    expect(e.status).toBe(403);
    expect(e.message).toContain(`key fingerprint ${crypt.fingerprint} is not registered`);
    expect(e.hint).toContain(`ironcore-backup key register ${crypt.fingerprint}`);

    const reg = ibs(["key", "register", crypt.fingerprint, "--comment", "host enc", "--data-dir", dir]);
    expect(reg.code, reg.stderr).toBe(0);
    const keys = ibsJson<any[]>(dir, ["key", "list"]);
    expect(keys).toEqual([expect.objectContaining({ fingerprint: crypt.fingerprint, state: "active", comment: "host enc", registeredBy: "root@pam" })]);
    const s = { ...start("enc", 1_800_000_000), cryptMode: "encrypt" as const, keyFingerprint: crypt.fingerprint };
    const { finished } = await backup(t, s, [randomChunk(1000, crypt)], { crypt });
    expect(finished.result).toBe("OK");
  });

  test("a quarantine set with the CLI reaches the running api: backups refused with the reason", async () => {
    const q = ibs(["datastore", "quarantine", "local", "--reason", "disk errors under investigation", "--data-dir", dir]);
    expect(q.code, q.stderr).toBe(0);
    try {
      const e = await refused(call(t, "POST", "/backup", start("q1", 1_800_000_000)));
      expect(e.status).toBe(409);
      expect(e.message).toContain("datastore local is quarantined (reason: disk errors under investigation)");
    } finally {
      expect(ibs(["datastore", "release", "local", "--data-dir", dir]).code).toBe(0);
    }
  });

  test("slots=1: a second session waits queue_timeout, then fails 'all worker slots busy for N s'", async () => {
    const first = await call(t, "POST", "/backup", start("slot1", 1_800_000_000));
    const t0 = Date.now();
    const e: any = await client.post("/backup", start("slot2", 1_800_000_000)).catch((err) => err);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1800);
    expect(e.status).toBe(503);
    expect(e.message).toMatch(/all worker slots busy for 2 s/);
    await call(t, "DELETE", `/backup/${first.session}`);
  });

  test("kill -9 of the api mid-session: no visible snapshot; the next api process takes a new session on the group", async () => {
    const s = await call(t, "POST", "/backup", start("crash", 1_800_000_000));
    const c = randomChunk(2000);
    await call(t, "POST", `/backup/${s.session}/chunk/${c.digest}`, c.blob);
    await call(t, "POST", `/backup/${s.session}/index/root.pxar.didx`, dynamicIndex([c]));
    api.kill("SIGKILL");
    await api.exited;

    const snapDir = join(dir, "datastores", "local", "host", "crash", timeAt(1_800_000_000));
    expect(existsSync(join(snapDir, "root.pxar.didx"))).toBe(true); // the dead writer's leftovers...
    expect(existsSync(join(snapDir, "index.json.blob"))).toBe(false); // ...without a manifest: no snapshot
    await startApi();
    expect(await client.get("/datastore/local/snapshots", { type: "host", id: "crash" })).toEqual([]);
    const dead = ibsJson<any>(dir, ["task", "status", s.upid]);
    expect(dead.state).toMatch(/process \d+ on node \S+ is gone/);

    // Same group, same time, one worker slot: the dead session's slot and lock are free again.
    const again = await backup(t, start("crash", 1_800_000_000), [c, randomChunk(500)]);
    expect(again.finished.result).toBe("OK");
    expect(readdirSync(snapDir).sort()).toEqual(["host.conf.blob", "index.json.blob", "root.pxar.didx"]);
  });
});
