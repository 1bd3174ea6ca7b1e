/**
 * `probeS3`: every failure is one line naming its cause (wrong credentials, missing bucket,
 * unreachable endpoint, untrusted or changed certificate, foreign datastore), and what depends
 * on a failed step is skipped. Also the datastore marker, and TLS with a pin or a CA file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { generateSelfSigned } from "../../../src/api/tls/certificate.ts";
import { fingerprintOfDer } from "../../../src/client/fingerprint.ts";
import { probeS3, type S3ProbeReport } from "../../../src/s3/probe.ts";
import { readS3Marker, writeS3Marker } from "../../../src/s3/marker.ts";
import { freePort } from "../../helpers/ibs.ts";
import { type S3TestServer, s3EndpointConfig, startS3rver, uniqueBucket } from "../../helpers/s3.ts";
import { openTestBackend, tempDir } from "./s3-test-env.ts";

let s3: S3TestServer;
let tlsS3: S3TestServer;
let certFile: string;
let fingerprint: string;
let certDir: string;
const bucket = uniqueBucket("probe");

beforeAll(async () => {
  const dir = (certDir = tempDir());
  const { certPem, keyPem } = await generateSelfSigned({ commonName: "s3 test", dns: ["localhost"], ips: ["127.0.0.1"], days: 2 });
  certFile = join(dir, "cert.pem");
  writeFileSync(certFile, certPem);
  writeFileSync(join(dir, "key.pem"), keyPem);
  fingerprint = fingerprintOfDer(new X509Certificate(certPem).raw);
  [s3, tlsS3] = await Promise.all([startS3rver(), startS3rver({ tls: { certFile, keyFile: join(dir, "key.pem") } })]);
  await s3.createBucket(bucket);
  await tlsS3.createBucket(bucket);
});
afterAll(async () => {
  await s3?.stop();
  await tlsS3?.stop();
  rmSync(certDir, { recursive: true, force: true });
});

const status = (r: S3ProbeReport) => Object.fromEntries(r.checks.map((c) => [c.check, c.status]));
const check = (r: S3ProbeReport, name: string) => r.checks.find((c) => c.check === name)!;

describe("probe", () => {
  test("a healthy endpoint and bucket: every check OK, the probe object round trip measured and gone", async () => {
    const r = await probeS3(s3EndpointConfig(s3.endpoint), { bucket, prefix: "fresh" });
    expect(r.ok).toBe(true);
    expect(status(r)).toEqual({
      dns: "ok",
      tcp: "ok",
      tls: "ok",
      credentials: "ok",
      bucket: "ok",
      datastore: "ok",
      write: "ok",
      read: "ok",
      delete: "ok",
      "conditional-create": "ok",
      latency: "ok",
    });
    expect(r.conditionalCreate).toBe("ignored");
    expect(check(r, "conditional-create").message).toContain("HEAD-then-PUT");
    expect(r.latencyMs).toBeGreaterThan(0);
    const { backend, cleanup } = await openTestBackend(s3EndpointConfig(s3.endpoint), bucket, { prefix: "fresh" });
    const left: string[] = [];
    for await (const e of backend.list("")) left.push(e.key);
    await cleanup?.();
    expect(left).toEqual([]);
  });

  test("wrong credentials: the credentials line says so, the rest is skipped", async () => {
    const r = await probeS3(s3EndpointConfig(s3.endpoint, { accessKeyId: "AKIAWRONG", secretAccessKey: "nope" }), { bucket });
    expect(r.ok).toBe(false);
    expect(check(r, "credentials")).toMatchObject({ status: "fail", cause: "bad-credentials" });
    expect(check(r, "credentials").message).toContain("does not know access key id AKIAWRONG");
    expect(r.checks.filter((c) => c.status === "fail").length).toBe(1);
    expect(check(r, "bucket").status).toBe("skip");
    expect(JSON.stringify(r)).not.toContain("nope"); // the secret never appears in a report
  });

  test("a missing bucket: named, with what to do", async () => {
    const r = await probeS3(s3EndpointConfig(s3.endpoint), { bucket: "no-such-bucket-2" });
    expect(check(r, "credentials").status).toBe("ok");
    expect(check(r, "bucket")).toMatchObject({ status: "fail", cause: "missing-bucket" });
    expect(check(r, "bucket").message).toContain("bucket no-such-bucket-2 does not exist");
    expect(check(r, "write").status).toBe("skip");
  });

  test("an unreachable endpoint: connection refused, or a name that does not resolve", async () => {
    const refused = await probeS3(s3EndpointConfig(`http://127.0.0.1:${freePort()}`), { bucket, timeoutMs: 3000 });
    expect(refused.ok).toBe(false);
    expect(check(refused, "tcp")).toMatchObject({ status: "fail", cause: "connection-refused" });
    expect(check(refused, "tcp").message).toContain("connection refused");
    expect(check(refused, "credentials").status).toBe("skip");

    const nodns = await probeS3(s3EndpointConfig("http://s3.no-such-host.invalid:9000"), { bucket, timeoutMs: 3000 });
    expect(check(nodns, "dns")).toMatchObject({ status: "fail", cause: "dns" });
    expect(check(nodns, "dns").message).toContain("cannot resolve s3.no-such-host.invalid");
    expect(check(nodns, "tcp").status).toBe("skip");
  });

  test("the marker: ours, another datastore's, or none", async () => {
    const { backend, cleanup } = await openTestBackend(s3EndpointConfig(s3.endpoint), bucket, { prefix: "store1" });
    try {
      await writeS3Marker(backend, { id: "id-1", name: "store1", host: "node-a" });
      expect(await writeS3Marker(backend, { id: "id-1", name: "store1", host: "node-a" })).toMatchObject({ datastore_id: "id-1" }); // a retried create
      const taken = await writeS3Marker(backend, { id: "id-2", name: "other", host: "node-b" }).catch((e) => e);
      expect(taken.message).toContain("already holds datastore id-1 (name store1, host node-a");
      expect((await readS3Marker(backend))?.datastore_id).toBe("id-1");
    } finally {
      await cleanup?.();
    }
    const ours = await probeS3(s3EndpointConfig(s3.endpoint), { bucket, prefix: "store1", expectedId: "id-1", write: false });
    expect(check(ours, "datastore").status).toBe("ok");
    expect(check(ours, "write").status).toBe("skip");
    expect(ours.ok).toBe(true);
    const other = await probeS3(s3EndpointConfig(s3.endpoint), { bucket, prefix: "store1", expectedId: "id-9", write: false });
    expect(check(other, "datastore")).toMatchObject({ status: "fail", cause: "wrong-datastore" });
    expect(check(other, "datastore").message).toContain("holds datastore id-1");
    const none = await probeS3(s3EndpointConfig(s3.endpoint), { bucket, prefix: "store-never", expectedId: "id-1", write: false });
    expect(check(none, "datastore")).toMatchObject({ status: "fail", cause: "not-a-datastore" });
    const before = await probeS3(s3EndpointConfig(s3.endpoint), { bucket, prefix: "store1", write: false });
    expect(check(before, "datastore")).toMatchObject({ status: "warn", cause: "prefix-in-use" });
  });
});

describe("TLS", () => {
  test("a pinned fingerprint or a CA file is trusted; an unknown or changed certificate is refused, naming its fingerprint", async () => {
    const pinned = s3EndpointConfig(tlsS3.endpoint, { name: "pinned", fingerprint });
    const r = await probeS3(pinned, { bucket, prefix: "tls" });
    expect(r.ok).toBe(true);
    expect(check(r, "tls").message).toContain("matches the pinned fingerprint");

    const withCa = await probeS3(s3EndpointConfig(tlsS3.endpoint, { name: "ca", caFile: certFile }), { bucket, write: false });
    expect(check(withCa, "tls").status).toBe("ok");

    const untrusted = await probeS3(s3EndpointConfig(tlsS3.endpoint, { name: "plain" }), { bucket });
    expect(check(untrusted, "tls")).toMatchObject({ status: "fail", cause: "tls-untrusted" });
    expect(check(untrusted, "tls").message).toContain(`--fingerprint ${fingerprint}`);
    expect(check(untrusted, "credentials").status).toBe("skip");

    const wrongPin = "AA:".repeat(31) + "AA";
    const changed = await probeS3(s3EndpointConfig(tlsS3.endpoint, { name: "changed", fingerprint: wrongPin }), { bucket });
    expect(check(changed, "tls")).toMatchObject({ status: "fail", cause: "fingerprint-mismatch" });
    expect(check(changed, "tls").message).toContain(fingerprint);
  });

  test("the backend works over TLS with a pin or a CA file, refuses an untrusted certificate, and refuses to open when the pin does not match", async () => {
    for (const trust of [{ fingerprint }, { caFile: certFile }]) {
      // No chunk cache: the GET and HEAD must really go over TLS.
      const { backend, cleanup } = await openTestBackend(s3EndpointConfig(tlsS3.endpoint, { name: "tls-backend", ...trust }), bucket, { cacheSize: 0 });
      try {
        await backend.put("a/b", new TextEncoder().encode("over tls"));
        expect(await backend.putIfAbsent("a/b", new TextEncoder().encode("again"))).toBe("exists");
        expect(new TextDecoder().decode(await backend.get("a/b"))).toBe("over tls");
      } finally {
        await cleanup?.();
      }
    }
    const untrusted = await openTestBackend(s3EndpointConfig(tlsS3.endpoint, { name: "untrusted" }), bucket, { cacheSize: 0, retry: { maxAttempts: 1 } });
    try {
      const refused = await untrusted.backend.get("a/b").catch((e) => e);
      expect(refused).toBeInstanceOf(Error);
      expect(refused.message).toMatch(/certificate|self.signed|SELF_SIGNED|DEPTH_ZERO/i);
    } finally {
      await untrusted.cleanup?.();
    }
    const err = await openTestBackend(s3EndpointConfig(tlsS3.endpoint, { name: "bad-pin", fingerprint: "BB:".repeat(31) + "BB" }), bucket).catch((e) => e);
    expect(err.message).toContain(`presented a certificate with fingerprint ${fingerprint}`);
  });
});
