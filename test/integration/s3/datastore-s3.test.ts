/**
 * S3 datastores end to end, as an operator runs them: the compiled binary (`run all`, the
 * admin commands, the backup client) against s3rver, once directly and once through the
 * fault-injecting proxy (503 SlowDown, connection resets and delays on about 10% of requests).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { freePort, ibsBinary, type RunResult, waitFor } from "../../helpers/ibs.ts";
import { type FaultProxy, S3RVER_KEY, type S3TestServer, startFaultProxy, startS3rver, uniqueBucket } from "../../helpers/s3.ts";
import { type BackupNode, diffTrees, startBackupNode } from "../backup/backup-fixture.ts";

let s3: S3TestServer;
let proxy: FaultProxy;
let node: BackupNode;
let src: string;
const bucket = uniqueBucket("ibs-it");

/**
 * The binary as a child process without blocking this process: the fault proxy runs in it and
 * must keep answering while a command talks to the store through it (spawnSync would deadlock).
 */
async function run(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const p = Bun.spawn([ibsBinary(), ...args], { env: { ...process.env, NO_COLOR: "1", ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

const admin = (args: string[]) => run([...args, "--data-dir", node.dir]);
const client = (args: string[], env: Record<string, string>) => run(args, { ...node.env, ...env });

async function json<T = any>(r: Promise<RunResult>, what: string): Promise<T> {
  const done = await r;
  if (done.code !== 0) throw new Error(`ironcore-backup ${what} exited ${done.code}: ${done.stderr.trim()}`);
  return JSON.parse(done.stdout);
}

const adminJson = <T = any>(args: string[]) => json<T>(admin([...args, "--output-format", "json"]), args.join(" "));
const clientJson = <T = any>(args: string[], env: Record<string, string>) => json<T>(client([...args, "--output-format", "json"], env), args.join(" "));

/** s3rver knows one key pair; it refuses another key id (it does not check the secret). */
async function endpointCreate(name: string, url: string, keyId = S3RVER_KEY): Promise<void> {
  const r = await admin(["s3", "endpoint", "create", name, "--endpoint", url, "--access-key-id", keyId, "--secret-access-key", S3RVER_KEY, "--path-style"]);
  if (r.code !== 0) throw new Error(`s3 endpoint create ${name}: ${r.stderr}`);
}

/** Small tree: text, a few MiB of incompressible data, an empty file, a subdirectory. */
function buildTree(dir: string): void {
  fs.mkdirSync(join(dir, "sub", "deeper"), { recursive: true });
  fs.writeFileSync(join(dir, "hello.txt"), "hello s3\n".repeat(1000));
  fs.writeFileSync(join(dir, "sub", "random.bin"), Buffer.from(crypto.getRandomValues(new Uint8Array(3 * 1024 * 1024))));
  fs.writeFileSync(join(dir, "sub", "deeper", "random2.bin"), Buffer.from(crypto.getRandomValues(new Uint8Array(1024 * 1024 + 17))));
  fs.writeFileSync(join(dir, "empty"), "");
}

async function backupAndRestore(store: string, id: string): Promise<{ snapshot: string; chunks: number }> {
  const repo = { IBS_REPOSITORY: `admin@ibs@127.0.0.1:${node.port}:${store}` };
  const s = await clientJson(["backup", `root.ibsar:${src}`, "--crypt-mode", "none", "--backup-type", "host", "--backup-id", id], repo);
  expect(s.snapshot).toContain(`host/${id}/`);
  const listed = await clientJson<Array<{ snapshot: string }>>(["snapshot", "list"], repo);
  expect(listed.map((l) => l.snapshot)).toContain(s.snapshot);
  const out = join(node.dir, `restored-${store}`);
  const r = await client(["restore", s.snapshot, "root.ibsar", out], repo);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(diffTrees(src, out)).toEqual([]);
  return { snapshot: s.snapshot, chunks: (await adminJson(["datastore", "stats", store])).content.chunks };
}

beforeAll(async () => {
  [s3, node] = await Promise.all([startS3rver(), startBackupNode()]);
  await s3.createBucket(bucket);
  proxy = await startFaultProxy(s3, {});
  src = join(node.dir, "src");
  buildTree(src);
  await endpointCreate("s3direct", s3.endpoint);
  await endpointCreate("s3faulty", proxy.endpoint);
}, 90_000);

afterAll(async () => {
  await node?.stop();
  await proxy?.stop();
  await s3?.stop();
});

test("an S3 datastore: create, backup, restore, stats with request counters, reindex equal, probe", async () => {
  const cacheDir = join(node.dir, "cache", "offsite");
  const made = await adminJson(["datastore", "create", "offsite", "--backend", "s3", "--s3-endpoint", "s3direct", "--bucket", bucket, "--cache-dir", cacheDir, "--cache-size", "64MiB"]);
  expect(made.datastore).toMatchObject({ name: "offsite", backend: "s3", path: cacheDir, s3: { endpoint: "s3direct", bucket, prefix: "offsite", cacheSize: 64 * 1024 * 1024 } });
  // The marker in the bucket names the store; the local side holds .ibs/ only.
  const marker = JSON.parse(fs.readFileSync(join(s3.dir, bucket, "offsite", ".ibs", "in-use.json._S3rver_object"), "utf8"));
  expect(marker.datastore_id).toBe(made.datastore.storeId);
  expect(fs.readdirSync(cacheDir)).toEqual([".ibs"]);
  expect((await admin(["datastore", "show", "offsite"])).stdout).toMatch(new RegExp(`^backend\\s+s3: endpoint s3direct, bucket ${bucket}, prefix offsite, cache 64M`, "m"));
  expect((await admin(["datastore", "list"])).stdout).toContain(`${cacheDir} (s3 s3direct:${bucket}/offsite)`);

  const { chunks } = await backupAndRestore("offsite", "s3-direct");
  expect(chunks).toBeGreaterThan(0);
  // The chunks are objects in the bucket, not files in the local directory.
  expect(fs.existsSync(join(s3.dir, bucket, "offsite", ".chunks"))).toBe(true);
  expect(fs.existsSync(join(cacheDir, ".chunks"))).toBe(false);

  // Counters are flushed by the server every few seconds.
  const stats = await waitFor("PUT counters", async () => {
    const s = await adminJson(["datastore", "stats", "offsite"]);
    return s.s3.requests.PUT.requests >= chunks ? s : undefined;
  }, 15_000);
  expect(stats.s3).toMatchObject({ endpoint: "s3direct", bucket, prefix: "offsite" });
  expect(stats.s3.requests.PUT.bytesUp).toBeGreaterThan(4 * 1024 * 1024);
  expect(stats.s3.cache.bytes).toBeGreaterThan(0);
  expect(stats.content.storedBytes).toBeGreaterThan(4 * 1024 * 1024);
  const text = (await admin(["datastore", "stats", "offsite"])).stdout;
  expect(text).toMatch(/^\s+PUT\s+\d+/m);
  expect(text).toMatch(/^chunk cache\s+/m);

  const reindexed = await adminJson(["datastore", "reindex", "offsite"]);
  expect(reindexed).toMatchObject({ unchanged: true, differences: 0, chunks });

  const probe = await admin(["datastore", "probe", "offsite"]);
  expect(probe.code).toBe(0);
  expect(probe.stdout).toMatch(/^OK\s+datastore\s+/m);
  expect(probe.stdout).toMatch(/^OK\s+write\s+/m);
  expect(probe.stdout).toMatch(/^OK\s+local-datastore\s+/m);

  // The endpoint stays while a datastore uses it.
  const removed = await admin(["s3", "endpoint", "remove", "s3direct"]);
  expect(removed.code).not.toBe(0);
  expect(removed.stderr).toMatch(/S3 endpoint s3direct is used by datastores? \w/);
  expect((await adminJson(["s3", "endpoint", "list"])).map((e: any) => e.name)).toContain("s3direct");
}, 60_000);

test("backup, restore, GC and verify through a store that throttles, resets and delays 10% of requests lose nothing", async () => {
  const cacheDir = join(node.dir, "cache", "faulty");
  await adminJson(["datastore", "create", "faulty", "--backend", "s3", "--s3-endpoint", "s3faulty", "--bucket", bucket, "--cache-dir", cacheDir, "--cache-size", "0"]);
  // More chunks than the first tree, so that 10% is a few dozen faults.
  for (let i = 0; i < 6; i++) fs.writeFileSync(join(src, "sub", `more-${i}.bin`), Buffer.from(crypto.getRandomValues(new Uint8Array(4 * 1024 * 1024))));
  proxy.setRates({ slowDown: 0.04, reset: 0.03, resetAfter: 0.01, delay: 0.02, delayMs: 200 });
  // Each kind at least once, whatever the dice say: a PUT that took effect but whose answer was lost included.
  proxy.failNext("slowdown", 2, "PUT");
  proxy.failNext("reset", 1, "PUT");
  proxy.failNext("reset-after", 1, "PUT");
  const { snapshot, chunks } = await backupAndRestore("faulty", "s3-faulty");
  expect(chunks).toBeGreaterThan(20);
  const injected = Object.values(proxy.stats.injected).reduce((a, b) => a + b, 0);
  expect(injected).toBeGreaterThanOrEqual(6);

  // GC and verify run as tasks of the node's roles, still through the faults.
  const gc = await admin(["gc", "start", "faulty", "--follow"]);
  expect(gc.stderr).toBe("");
  expect(gc.code).toBe(0);
  const verify = await admin(["verify", "start", "faulty", "--follow"]);
  expect(verify.code).toBe(0);
  const status = await adminJson(["verify", "status"]);
  expect(status.find((v: any) => v.datastore === "faulty").last).toMatchObject({ snapshots: { ok: 1, failed: 0 }, chunks: { checked: chunks, missing: 0, corrupt: 0 } });

  // The catalog and the bucket agree (a rebuild from the listing finds every chunk), and the
  // snapshot still restores after GC.
  proxy.setRates({});
  expect(await adminJson(["datastore", "reindex", "faulty"])).toMatchObject({ unchanged: true, chunks });
  const out = join(node.dir, "restored-after-gc");
  const r = await client(["restore", snapshot, "root.ibsar", out], { IBS_REPOSITORY: `admin@ibs@127.0.0.1:${node.port}:faulty` });
  expect(r.code).toBe(0);
  expect(diffTrees(src, out)).toEqual([]);
  const stats = await waitFor("retry counters", async () => {
    const s = await adminJson(["datastore", "stats", "faulty"]);
    const retries = Object.values(s.s3.requests as Record<string, { retries: number }>).reduce((n, k) => n + k.retries, 0);
    return retries > 0 ? s : undefined;
  }, 15_000);
  expect(stats.s3.requests.PUT.throttled).toBeGreaterThanOrEqual(2);
  expect(stats.s3.cache.entries).toBe(0); // --cache-size 0: every read went to the store

  // Removing it with its data empties the prefix, marker included; the other store's objects stay.
  const objects = (prefix: string) => (fs.readdirSync(join(s3.dir, bucket), { recursive: true }) as string[]).filter((f) => f.startsWith(prefix + "/") && f.endsWith("._S3rver_object"));
  expect(objects("faulty").length).toBeGreaterThan(chunks);
  const removed = await admin(["datastore", "remove", "faulty", "--destroy-data"]);
  expect(removed.code).toBe(0);
  expect(objects("faulty")).toEqual([]);
  expect(objects("offsite").length).toBeGreaterThan(0);
  expect(fs.existsSync(join(cacheDir, ".ibs"))).toBe(false);
}, 80_000);

test("wrong credentials, a missing bucket and an unreachable endpoint fail create and probe with the cause", async () => {
  await endpointCreate("s3badkey", s3.endpoint, "AKIAWRONG");
  const bad = await admin(["datastore", "create", "badkey", "--backend", "s3", "--s3-endpoint", "s3badkey", "--bucket", bucket, "--cache-dir", join(node.dir, "cache", "badkey")]);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain("(bad-credentials)");
  expect(fs.existsSync(join(node.dir, "cache", "badkey"))).toBe(false);

  const missing = await admin(["datastore", "create", "nobucket", "--backend", "s3", "--s3-endpoint", "s3direct", "--bucket", uniqueBucket("missing"), "--cache-dir", join(node.dir, "cache", "nobucket")]);
  expect(missing.code).not.toBe(0);
  expect(missing.stderr).toContain("(missing-bucket)");

  await endpointCreate("s3down", `http://127.0.0.1:${freePort()}`);
  const down = await admin(["datastore", "create", "down", "--backend", "s3", "--s3-endpoint", "s3down", "--bucket", bucket, "--cache-dir", join(node.dir, "cache", "down")]);
  expect(down.code).not.toBe(0);
  expect(down.stderr).toContain("(connection-refused)");
  // Nothing of the failed creates was registered.
  const names = (await adminJson(["datastore", "list"])).map((d: any) => d.name);
  for (const n of ["badkey", "nobucket", "down"]) expect(names).not.toContain(n);

  // A registered store whose credentials went wrong: probe fails, one line naming the cause.
  const c = await admin(["s3", "endpoint", "update", "s3direct", "--access-key-id", "AKIAWRONG", "--secret-access-key", S3RVER_KEY]);
  expect(c.code).toBe(0);
  const probe = await admin(["datastore", "probe", "offsite"]);
  expect(probe.code).not.toBe(0);
  expect(probe.stdout).toMatch(/^FAIL\s+credentials\s+/m);
  expect(probe.stderr).toContain("credentials (bad-credentials)");
  // The mode lives locally: it can be changed while the store cannot be reached.
  expect((await admin(["datastore", "mode", "offsite", "read-only"])).code).toBe(0);
  expect((await admin(["datastore", "mode", "offsite", "online"])).code).toBe(0);
  expect((await admin(["s3", "endpoint", "update", "s3direct", "--access-key-id", S3RVER_KEY, "--secret-access-key", S3RVER_KEY])).code).toBe(0);
  expect((await admin(["datastore", "probe", "offsite"])).code).toBe(0);
}, 60_000);
