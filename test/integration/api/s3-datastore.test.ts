/**
 * An S3 datastore created over the API (`POST /datastore` with backend s3) against a real
 * s3rver, by a real `run api` process over HTTPS: the store answers `datastore probe` and
 * `datastore show` (CLI) and the API's show/probe; an unknown endpoint is a 400 naming
 * body.s3-endpoint; Datastore.Allocate is needed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import type { ApiClient } from "../../../src/client/http.ts";
import { apiClient } from "../../helpers/ibs.ts";
import { S3RVER_KEY, type S3TestServer, startS3rver, uniqueBucket } from "../../helpers/s3.ts";
import { cliJson, refusal, startApiNode, type ApiNode } from "./api-fixture.ts";

let node: ApiNode;
let s3: S3TestServer;
let admin: ApiClient;
const bucket = uniqueBucket("ibs-api");

beforeAll(async () => {
  [node, s3] = await Promise.all([startApiNode(), startS3rver()]);
  await s3.createBucket(bucket);
  const r = node.cli(["s3", "endpoint", "create", "lab", "--endpoint", s3.endpoint, "--access-key-id", S3RVER_KEY, "--secret-access-key", S3RVER_KEY, "--path-style"]);
  if (r.code !== 0) throw new Error(`s3 endpoint create: ${r.stderr}`);
  admin = await apiClient(node.dir, node.port);
}, 60_000);

afterAll(async () => {
  node?.proc.kill("SIGKILL");
  await s3?.stop();
});

test("POST /datastore with backend s3 makes a store that probe and show answer for", async () => {
  const cacheDir = join(node.dir, "cache", "offsite");
  const made = await admin.post<any>("/datastore", { name: "offsite", backend: "s3", "s3-endpoint": "lab", bucket, "cache-dir": cacheDir, "cache-size": "64MiB", comment: "over the API" });
  expect(made).toMatchObject({
    created: true,
    datastore: { name: "offsite", backend: "s3", path: cacheDir, comment: "over the API", s3: { endpoint: "lab", bucket, prefix: "offsite", cacheSize: 64 * 1024 * 1024 } },
  });
  // The bucket holds the marker naming the store; the local directory only .ibs/.
  const marker = JSON.parse(fs.readFileSync(join(s3.dir, bucket, "offsite", ".ibs", "in-use.json._S3rver_object"), "utf8"));
  expect(marker.datastore_id).toBe(made.datastore.storeId);
  expect(fs.readdirSync(cacheDir)).toEqual([".ibs"]);

  const probe = node.cli(["datastore", "probe", "offsite"]);
  expect(`${probe.code} ${probe.stderr}`).toBe("0 ");
  const probed = cliJson(node, ["datastore", "probe", "offsite"]);
  // The bucket was reached: its marker names this store.
  expect(probed).toMatchObject({ name: "offsite", ok: true, s3: { endpoint: "lab", bucket, prefix: "offsite" } });
  expect(JSON.stringify(probed.s3.marker)).toContain(made.datastore.storeId);
  expect(cliJson(node, ["datastore", "show", "offsite"])).toMatchObject({ name: "offsite", backend: "s3", storeId: made.datastore.storeId, mode: "online" });
  expect(await admin.get<any>("/datastore/offsite")).toMatchObject({ name: "offsite", backend: "s3", storeId: made.datastore.storeId });
  expect(await admin.get<any>("/datastore/offsite/probe")).toMatchObject({ name: "offsite", ok: true, failures: 0 });

  // The audit log has the same details the CLI records.
  const audit = cliJson<any[]>(node, ["audit", "list", "--auth-id", "admin@ibs"]);
  expect(audit.find((a) => a.action === "datastore.create" && a.target === "offsite")).toMatchObject({ result: "ok", details: { backend: "s3", endpoint: "lab", bucket, prefix: "offsite", path: cacheDir } });

  // A second store on the same prefix is refused by the same checks as the CLI's.
  const dup = await refusal(admin.post("/datastore", { name: "offsite2", backend: "s3", "s3-endpoint": "lab", bucket, prefix: "offsite", "cache-dir": join(node.dir, "cache", "o2") }));
  expect([dup.status, dup.code]).toEqual([409, "conflict"]);
  expect(dup.message).toContain("prefix 'offsite' of bucket");
}, 60_000);

test("an unknown or missing endpoint is a 400 naming body.s3-endpoint; nothing is made", async () => {
  const cacheDir = join(node.dir, "cache", "nowhere");
  const unknown = await refusal(admin.post("/datastore", { name: "nowhere", backend: "s3", "s3-endpoint": "ceph9", bucket, "cache-dir": cacheDir }));
  expect([unknown.status, unknown.details.field]).toEqual([400, "body.s3-endpoint"]);
  expect(unknown.message).toStartWith("body.s3-endpoint: S3 endpoint 'ceph9' does not exist on this node");
  const missing = await refusal(admin.post("/datastore", { name: "nowhere", backend: "s3", bucket, "cache-dir": cacheDir }));
  expect([missing.status, missing.details.field]).toEqual([400, "body.s3-endpoint"]);
  expect(fs.existsSync(cacheDir)).toBe(false);
  expect((await admin.get<any[]>("/datastore")).map((d) => d.name)).not.toContain("nowhere");
});

test("403 without Datastore.Allocate (DatastoreAdmin on /datastore is not enough)", async () => {
  expect(node.cli(["user", "create", "erin@ibs"]).code).toBe(0);
  expect(node.cli(["acl", "update", "/datastore", "DatastoreAdmin", "--auth-id", "erin@ibs"]).code).toBe(0);
  const { secret } = cliJson(node, ["user", "token", "create", "erin@ibs", "t", "--no-privsep"]);
  const erin = await apiClient(node.dir, node.port, { authId: "erin@ibs!t", secret });
  const e = await refusal(erin.post("/datastore", { name: "erins", backend: "s3", "s3-endpoint": "lab", bucket, "cache-dir": join(node.dir, "cache", "erins") }));
  expect([e.status, e.code]).toEqual([403, "forbidden"]);
  expect(e.message).toStartWith("permission check failed: Datastore.Allocate on /datastore is required");
});
