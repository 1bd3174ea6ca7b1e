/**
 * S3 endpoints in the node state: create/list/show/update/remove, the secret in a 0600 file and
 * nowhere else (not in the database, not in views, not in output, not in the audit log), and
 * the `s3 endpoint` commands end to end (probe included, against s3rver).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, spyOn, test } from "bun:test";
import { runCommand } from "citty";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import s3Command from "../../../src/cli/s3.ts";
import { openStateDb, type StateDb } from "../../../src/state/db.ts";
import { createEndpoint, listEndpoints, loadEndpointConfig, removeEndpoint, showEndpoint, updateEndpoint } from "../../../src/s3/endpoints.ts";
import { parseRate } from "../../../src/s3/endpoint-config.ts";
import { secretPath } from "../../../src/s3/secrets.ts";
import { type S3TestServer, startS3rver, uniqueBucket } from "../../helpers/s3.ts";
import { tempDir } from "./s3-test-env.ts";

const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

describe("endpoint records", () => {
  let dir: string;
  let db: StateDb;
  beforeEach(() => {
    dir = tempDir();
    db = openStateDb(join(dir, "state.db"));
  });
  afterEach(() => {
    db.$client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("create stores the secret in a 0600 file only; views and the database never hold it", () => {
    const v = createEndpoint(db, dir, "ceph1", { endpoint: "https://s3.example.net/", region: "default", accessKeyId: "AKIAEXAMPLE", secretAccessKey: SECRET, pathStyle: true, rateLimit: parseRate("50MiB") });
    expect(v).toMatchObject({ name: "ceph1", endpoint: "https://s3.example.net", credentials: "stored-key", secretStored: true, pathStyle: true, rateLimit: 50 * 1024 * 1024 });
    const file = secretPath(dir, "ceph1");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "s3-secrets")).mode & 0o777).toBe(0o700);
    expect(JSON.stringify(v)).not.toContain(SECRET);
    expect(JSON.stringify(listEndpoints(db, dir))).not.toContain(SECRET);
    db.$client.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    expect(readFileSync(join(dir, "state.db")).includes(Buffer.from(SECRET))).toBe(false);

    const config = loadEndpointConfig(db, dir, "ceph1");
    expect(config.secretAccessKey).toBe(SECRET);
    expect(JSON.stringify(config)).not.toContain(SECRET); // not enumerable: a stray log line cannot leak it
  });

  test("input is checked and errors name what is wrong", () => {
    const bad = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as Error).message;
      }
      return "no error";
    };
    expect(bad(() => createEndpoint(db, dir, "x", { endpoint: "https://a" }))).toContain("S3 endpoint name 'x' is invalid");
    expect(bad(() => createEndpoint(db, dir, "ep1", { endpoint: "ftp://a" }))).toContain("scheme must be https");
    expect(bad(() => createEndpoint(db, dir, "ep1", { endpoint: "https://key:secret@a" }))).toContain("must not contain credentials");
    expect(bad(() => createEndpoint(db, dir, "ep1", { endpoint: "https://a/bucket" }))).toContain("must be only scheme, host and port");
    expect(bad(() => createEndpoint(db, dir, "ep1", { endpoint: "https://a", accessKeyId: "AKIA" }))).toContain("--access-key-id needs its secret");
    expect(bad(() => createEndpoint(db, dir, "ep1", { endpoint: "https://a", fingerprint: "12:34" }))).toContain("is not a SHA-256 fingerprint");
    expect(bad(() => createEndpoint(db, dir, "ep1", { endpoint: "https://a", caFile: join(dir, "missing.pem") }))).toContain("cannot read it");
    expect(bad(() => parseRate("fast"))).toContain("--rate-limit 'fast' is not a rate");
    createEndpoint(db, dir, "ep1", { endpoint: "https://a" });
    expect(bad(() => createEndpoint(db, dir, "ep1", { endpoint: "https://a" }))).toContain("already exists");
    expect(bad(() => showEndpoint(db, dir, "nope"))).toContain("S3 endpoint 'nope' does not exist");
  });

  test("update changes settings and credentials; default chain removes the secret; remove removes both", () => {
    createEndpoint(db, dir, "minio", { endpoint: "http://127.0.0.1:9000", accessKeyId: "old", secretAccessKey: "old-secret" });
    expect(() => updateEndpoint(db, dir, "minio", { accessKeyId: "new" })).toThrow("a new --access-key-id needs its secret");
    const v = updateEndpoint(db, dir, "minio", { accessKeyId: "new", secretAccessKey: "new-secret", maxRequests: 8, conditionalCreate: "off", comment: " lab " });
    expect(v).toMatchObject({ accessKeyId: "new", maxRequests: 8, conditionalCreate: "off", comment: "lab" });
    expect(loadEndpointConfig(db, dir, "minio").secretAccessKey).toBe("new-secret");
    const chain = updateEndpoint(db, dir, "minio", { useDefaultChain: true });
    expect(chain).toMatchObject({ credentials: "default-chain", accessKeyId: null, secretFile: null });
    expect(existsSync(secretPath(dir, "minio"))).toBe(false);
    expect(loadEndpointConfig(db, dir, "minio").secretAccessKey).toBeUndefined();
    expect(() => removeEndpoint(db, dir, "minio", { inUseBy: () => ["store1"] })).toThrow("S3 endpoint minio is used by datastore store1");
    removeEndpoint(db, dir, "minio");
    expect(listEndpoints(db, dir)).toEqual([]);
  });

  test("a secret file others can read is refused, and a missing one is named", () => {
    createEndpoint(db, dir, "loose", { endpoint: "https://a", accessKeyId: "k", secretAccessKey: "s" });
    chmodSync(secretPath(dir, "loose"), 0o644);
    expect(() => loadEndpointConfig(db, dir, "loose")).toThrow("is readable by other users (mode 644)");
    rmSync(secretPath(dir, "loose"));
    expect(() => loadEndpointConfig(db, dir, "loose")).toThrow("its secret access key file");
    expect(showEndpoint(db, dir, "loose").secretStored).toBe(false);
  });
});

describe("s3 endpoint commands", () => {
  let s3: S3TestServer;
  let dataDir: string;
  let out: string[];
  let spy: ReturnType<typeof spyOn>;
  const bucket = uniqueBucket("cli");
  beforeAll(async () => {
    s3 = await startS3rver();
    await s3.createBucket(bucket);
    dataDir = tempDir();
  });
  afterAll(async () => {
    await s3?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    out = [];
    spy = spyOn(process.stdout, "write").mockImplementation(((chunk: any) => {
      out.push(String(chunk));
      return true;
    }) as any);
  });
  afterEach(() => spy.mockRestore());
  const run = (...args: string[]) => runCommand(s3Command, { rawArgs: [...args, "--data-dir", dataDir] });

  test("create, list, show, probe, update, remove; the secret is never printed or audited", async () => {
    const secretFile = join(dataDir, "secret.txt");
    writeFileSync(secretFile, "S3RVER\n");
    await run("endpoint", "create", "local-s3", "--endpoint", s3.endpoint, "--access-key-id", "S3RVER", "--secret-access-key-file", secretFile, "--path-style", "--rate-limit", "200MiB");
    expect(out.join("")).toContain("created S3 endpoint local-s3");
    out = [];
    await run("endpoint", "list");
    expect(out.join("")).toMatch(/local-s3\s+http:\/\/127\.0\.0\.1:\d+\s+us-east-1\s+S3RVER/);
    out = [];
    await run("endpoint", "show", "local-s3");
    const shown = out.join("");
    expect(shown).toContain("path style (host/bucket)");
    expect(shown).toContain("200 MiB/s per direction");
    expect(shown).toContain(`secret stored in ${join(dataDir, "s3-secrets", "local-s3.secret")}`);

    out = [];
    await run("endpoint", "probe", "local-s3", "--bucket", bucket, "--prefix", "cli-probe");
    expect(out.join("")).toMatch(/^OK\s+credentials\s+access key id S3RVER accepted$/m);
    expect(out.join("")).toContain("result: OK (0 failures, 0 warnings)");

    out = [];
    const failed = await run("endpoint", "probe", "local-s3", "--bucket", "missing-bucket-x").catch((e) => e);
    expect(failed.message).toBe("S3 endpoint local-s3, bucket missing-bucket-x: bucket (missing-bucket) failed");
    expect(out.join("")).toMatch(/^FAIL\s+bucket\s+bucket missing-bucket-x does not exist/m);

    out = [];
    await run("endpoint", "update", "local-s3", "--secret-access-key", "rotated-secret-value", "--max-requests", "4", "--output-format", "json");
    const updated = JSON.parse(out.join(""));
    expect(updated.maxRequests).toBe(4);
    expect(readFileSync(join(dataDir, "s3-secrets", "local-s3.secret"), "utf8")).toBe("rotated-secret-value\n");

    out = [];
    await run("endpoint", "remove", "local-s3");
    expect(out.join("")).toContain("removed S3 endpoint local-s3 and its secret file");

    const audit = readFileSync(join(dataDir, "log", "audit.log"), "utf8");
    expect(audit).toContain("s3.endpoint.create");
    expect(audit).toContain("s3.endpoint.update");
    expect(audit).not.toContain("rotated-secret-value");
  });
});
