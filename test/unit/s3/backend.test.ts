/**
 * S3 backend behaviour beyond the conformance suite: conditional-create detection both ways,
 * ambiguous creates, retries and their counting, timeouts, the chunk cache in front of the
 * store, DeleteObjects batching, persisted counters, and the per-endpoint limits.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BackendIoError, NotFoundError } from "../../../src/datastore/backends/backend.ts";
import { readPersistedCounters, REQUEST_KINDS, totalRequests } from "../../../src/datastore/backends/s3-counters.ts";
import { type FaultProxy, type S3TestServer, s3EndpointConfig, startFaultProxy, startS3rver, uniqueBucket } from "../../helpers/s3.ts";
import { FAST_RETRY, openTestBackend, tempDir } from "./s3-test-env.ts";

let s3: S3TestServer;
let proxy: FaultProxy;
const bucket = uniqueBucket("backend");
const enc = (s: string) => new TextEncoder().encode(s);

beforeAll(async () => {
  s3 = await startS3rver();
  await s3.createBucket(bucket);
  proxy = await startFaultProxy(s3);
});
afterAll(async () => {
  await proxy?.stop();
  await s3?.stop();
});

function chunk(n: number): { key: string; bytes: Uint8Array } {
  const bytes = enc(`chunk payload ${n} `.repeat(50));
  const digest = createHash("sha256").update(bytes).digest("hex");
  return { key: `.chunks/${digest.slice(0, 4)}/${digest}`, bytes };
}

describe("conditional create", () => {
  test("is detected as ignored on s3rver and honoured through the enforcing proxy", async () => {
    const direct = await openTestBackend(s3EndpointConfig(s3.endpoint), bucket);
    const proxied = await openTestBackend(s3EndpointConfig(proxy.endpoint, { name: "proxied" }), bucket);
    try {
      expect(await direct.backend.conditionalCreate()).toBe("ignored");
      expect(await proxied.backend.conditionalCreate()).toBe("honoured");
      // The probe object is gone again.
      const left: string[] = [];
      for await (const e of direct.backend.list(".ibs/")) left.push(e.key);
      for await (const e of proxied.backend.list(".ibs/")) left.push(e.key);
      expect(left).toEqual([]);
    } finally {
      await direct.cleanup?.();
      await proxied.cleanup?.();
    }
  });

  test("'on' and 'off' skip the detection: one conditional PUT, or HEAD then PUT", async () => {
    const on = await openTestBackend(s3EndpointConfig(proxy.endpoint, { name: "cond-on", conditionalCreate: "on" }), bucket);
    const off = await openTestBackend(s3EndpointConfig(proxy.endpoint, { name: "cond-off", conditionalCreate: "off" }), bucket);
    try {
      const refusedBefore = proxy.stats.preconditionFailed;
      expect(await on.backend.putIfAbsent("m/manifest", enc("a"))).toBe("created");
      expect(await on.backend.putIfAbsent("m/manifest", enc("b"))).toBe("exists");
      expect(on.backend.counters().PUT.requests).toBe(2);
      expect(on.backend.counters().HEAD.requests).toBe(0);
      expect(proxy.stats.preconditionFailed).toBe(refusedBefore + 1);

      expect(await off.backend.putIfAbsent("m/manifest", enc("a"))).toBe("created");
      expect(await off.backend.putIfAbsent("m/manifest", enc("b"))).toBe("exists");
      expect(off.backend.counters().HEAD.requests).toBe(2);
      expect(off.backend.counters().PUT.requests).toBe(1);
      expect(proxy.stats.preconditionFailed).toBe(refusedBefore + 1);
      expect(new TextDecoder().decode(await off.backend.get("m/manifest"))).toBe("a");
    } finally {
      await on.cleanup?.();
      await off.cleanup?.();
    }
  });

  test("a create whose answer was lost after the store applied it is still 'created'; another writer's is 'exists'", async () => {
    const { backend, cleanup } = await openTestBackend(s3EndpointConfig(proxy.endpoint, { name: "ambiguous", conditionalCreate: "on" }), bucket);
    try {
      proxy.failNext("reset-after", 1, "PUT");
      expect(await backend.putIfAbsent("g/index.json.blob", enc("mine"))).toBe("created");
      expect(backend.counters().PUT.retries).toBe(1);
      expect(new TextDecoder().decode(await backend.get("g/index.json.blob"))).toBe("mine");

      proxy.failNext("reset", 1, "PUT"); // this attempt never reached the store: the retry's 412 is someone else's object
      expect(await backend.putIfAbsent("g/index.json.blob", enc("theirs"))).toBe("exists");
      expect(new TextDecoder().decode(await backend.get("g/index.json.blob"))).toBe("mine");
    } finally {
      await cleanup?.();
    }
  });

  test("without conditional PUT, processes sharing the cache directory still create a key exactly once", async () => {
    const cacheDir = tempDir();
    const prefix = "race";
    const config = { ...s3EndpointConfig(s3.endpoint, { name: "race", conditionalCreate: "off" }), secretAccessKey: "S3RVER" };
    const fixture = join(import.meta.dir, "fixtures", "race-create.ts");
    const procs = ["a", "b", "c"].map((tag) =>
      Bun.spawn([process.execPath, fixture, JSON.stringify(config), bucket, prefix, cacheDir, "g/owner", tag, "6"], { stdout: "pipe", stderr: "pipe" }),
    );
    const outputs = await Promise.all(procs.map(async (p) => ({ code: await p.exited, out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text() })));
    for (const o of outputs) expect(o.code, o.err).toBe(0);
    const created = outputs.reduce((n, o) => n + JSON.parse(o.out).created, 0);
    rmSync(cacheDir, { recursive: true, force: true });
    expect(created).toBe(1);
  });
});

describe("loading", () => {
  test("the AWS SDK and its signer are loaded only when a backend is opened, not by importing the S3 modules or the CLI", () => {
    const script = 'await import("./src/s3/index.ts"); await import("./src/cli/s3.ts"); await import("./src/datastore/backends/s3.ts"); console.log(Object.keys(require.cache).filter((k) => /@aws-sdk|@smithy/.test(k)).length)';
    const r = Bun.spawnSync([process.execPath, "-e", script], { cwd: join(import.meta.dir, "..", "..", ".."), stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.stdout.toString().trim()).toBe("0");
  });
});

describe("retries", () => {
  test("503 SlowDown, 500 and resets are retried, and every attempt is counted", async () => {
    const { backend, cleanup } = await openTestBackend(s3EndpointConfig(proxy.endpoint, { name: "retries", conditionalCreate: "on" }), bucket, { cacheSize: 0 });
    try {
      await backend.put("r/obj", enc("payload"));
      proxy.failNext("slowdown", 2, "GET");
      proxy.failNext("error500", 1, "GET");
      expect(new TextDecoder().decode(await backend.get("r/obj"))).toBe("payload");
      expect(backend.counters().GET).toMatchObject({ requests: 4, failed: 3, throttled: 2, retries: 3, bytesDown: 7 });
      // A reset PUT is never re-sent behind our back (its body is a stream): our retry counts it.
      proxy.failNext("reset", 1, "PUT");
      await backend.put("r/obj2", enc("payload2"));
      expect(backend.counters().PUT).toMatchObject({ requests: 3, failed: 1, retries: 1 });
      // A reset GET is retried too: by us, or, on a reused keep-alive connection, by Bun's
      // fetch itself (a GET changes nothing; that attempt is counted once, object-requests.ts).
      proxy.failNext("reset", 1, "GET");
      expect(new TextDecoder().decode(await backend.get("r/obj2"))).toBe("payload2");
      expect(backend.counters().GET.requests).toBeGreaterThanOrEqual(5);
    } finally {
      await cleanup?.();
    }
  });

  test("a GET body cut short of its Content-Length is a failed attempt, retried, never data", async () => {
    const { backend, cleanup } = await openTestBackend(s3EndpointConfig(proxy.endpoint, { name: "truncate" }), bucket, { cacheSize: 0 });
    try {
      const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
      await backend.put("t/obj", big);
      proxy.failNext("truncate", 1, "GET");
      const got = await backend.get("t/obj");
      expect(got.length).toBe(big.length);
      expect(Buffer.from(got).equals(Buffer.from(big))).toBe(true);
      expect(backend.counters().GET).toMatchObject({ requests: 2, failed: 1, retries: 1 });
      // A range read goes through the same body reader.
      expect(Buffer.from(await backend.getRange("t/obj", 1000, 5)).equals(Buffer.from(big.subarray(1000, 1005)))).toBe(true);
    } finally {
      await cleanup?.();
    }
  });

  test("after the last attempt the error is one line: store, operation, key, status, attempts", async () => {
    const { backend, cleanup } = await openTestBackend(s3EndpointConfig(proxy.endpoint, { name: "exhaust" }), bucket, { prefix: "exhaust" });
    try {
      proxy.failNext("slowdown", FAST_RETRY.maxAttempts, "HEAD");
      const err = await backend.stat("x/y").catch((e) => e);
      expect(err).toBeInstanceOf(BackendIoError);
      expect(err.message).toBe(`s3 exhaust:${bucket}/exhaust: stat 'x/y': 503 (after ${FAST_RETRY.maxAttempts} attempts)`);
      expect(backend.counters().HEAD.throttled).toBe(FAST_RETRY.maxAttempts);
    } finally {
      await cleanup?.();
    }
  });

  test("a stalled request times out and is retried", async () => {
    const { backend, cleanup } = await openTestBackend(s3EndpointConfig(proxy.endpoint, { name: "stall" }), bucket, { requestTimeoutMs: 400 });
    try {
      await backend.put("s/obj", enc("late"));
      proxy.failNext("stall", 1, "GET");
      const started = performance.now();
      expect(new TextDecoder().decode(await backend.get("s/obj"))).toBe("late");
      expect(performance.now() - started).toBeGreaterThan(350);
      expect(backend.counters().GET.failed).toBe(1);
    } finally {
      await cleanup?.();
    }
  });

  test("wrong credentials and a missing bucket fail at once, saying so", async () => {
    const wrong = await openTestBackend(s3EndpointConfig(s3.endpoint, { name: "wrongkey", accessKeyId: "NOT-A-KEY", secretAccessKey: "x" }), bucket);
    const nobucket = await openTestBackend(s3EndpointConfig(s3.endpoint, { name: "nobucket" }), "no-such-bucket-here");
    try {
      const e1 = await wrong.backend.get("a").catch((e) => e);
      expect(e1.message).toContain("403 InvalidAccessKeyId");
      expect(wrong.backend.counters().GET.requests).toBe(1);
      const e2 = await nobucket.backend.get("a").catch((e) => e);
      expect(e2.message).toContain("bucket 'no-such-bucket-here' does not exist");
      expect(e2).not.toBeInstanceOf(NotFoundError); // a missing bucket is not a missing object
    } finally {
      await wrong.cleanup?.();
      await nobucket.cleanup?.();
    }
  });
});

describe("chunk cache in front of the store", () => {
  test("dedup checks, stats and reads of cached chunks send no request; uncached() and a damaged copy go to the store", async () => {
    const { backend, cleanup, cacheDir } = await openTestBackend(s3EndpointConfig(proxy.endpoint, { name: "cached", conditionalCreate: "on" }), bucket);
    try {
      const c = chunk(1);
      expect(await backend.putIfAbsent(c.key, c.bytes)).toBe("created");
      const before = totalRequests(backend.counters());
      expect(await backend.putIfAbsent(c.key, c.bytes)).toBe("exists");
      expect((await backend.stat(c.key))?.size).toBe(c.bytes.length);
      expect(await backend.get(c.key)).toEqual(c.bytes);
      expect(await backend.getRange(c.key, 6, 7)).toEqual(c.bytes.subarray(6, 13));
      expect(totalRequests(backend.counters())).toBe(before);

      expect(await backend.uncached().get(c.key)).toEqual(c.bytes);
      expect(backend.counters().GET.requests).toBe(1);

      const digest = c.key.slice(-64);
      writeFileSync(join(cacheDir, "chunks", digest.slice(0, 4), digest), new Uint8Array(c.bytes.length));
      expect(await backend.get(c.key)).toEqual(c.bytes); // fetched again, not the zeros
      expect(backend.counters().GET.requests).toBe(2);
      expect(await backend.get(c.key)).toEqual(c.bytes); // and cached again
      expect(backend.counters().GET.requests).toBe(2);

      await backend.delete([c.key]);
      expect(await backend.stat(c.key)).toBeNull();
      expect(await backend.get(c.key).catch((e) => e)).toBeInstanceOf(NotFoundError);
      expect(backend.cacheUsage()?.entries).toBe(0);
    } finally {
      await cleanup?.();
    }
  });

  test("a chunk that already existed is not cached with our bytes (an encrypted copy may differ)", async () => {
    const { backend, cleanup } = await openTestBackend(s3EndpointConfig(proxy.endpoint, { name: "existing", conditionalCreate: "on" }), bucket);
    try {
      const c = chunk(2);
      await backend.uncached().put(c.key, enc("the stored encoding"));
      expect(await backend.putIfAbsent(c.key, c.bytes)).toBe("exists");
      expect(backend.cacheUsage()?.entries).toBe(0);
      expect(new TextDecoder().decode(await backend.get(c.key))).toBe("the stored encoding");
    } finally {
      await cleanup?.();
    }
  });
});

describe("batches, counters and limits", () => {
  test("delete sends one DeleteObjects per 1000 keys", async () => {
    const { backend, cleanup } = await openTestBackend(s3EndpointConfig(s3.endpoint, { name: "batches" }), bucket);
    try {
      await backend.put("b/keep", enc("k"));
      await backend.put("b/2499", enc("x"));
      const keys = Array.from({ length: 2500 }, (_, i) => `b/${i}`);
      await backend.delete(keys);
      expect(backend.counters().DELETE.requests).toBe(3);
      expect(await backend.stat("b/2499")).toBeNull();
      expect(await backend.stat("b/keep")).not.toBeNull();
    } finally {
      await cleanup?.();
    }
  });

  test("counters are persisted beside the catalog and add up across backends (processes) and restarts", async () => {
    const cacheDir = tempDir();
    const a = await openTestBackend(s3EndpointConfig(s3.endpoint, { name: "count-a", conditionalCreate: "off" }), bucket, { cacheDir, prefix: "counted" });
    await a.backend.put("c/1", enc("one"));
    await a.backend.get("c/1");
    const aCounts = a.backend.counters();
    await a.backend.close();
    const b = await openTestBackend(s3EndpointConfig(s3.endpoint, { name: "count-b", conditionalCreate: "off" }), bucket, { cacheDir, prefix: "counted" });
    try {
      await b.backend.putIfAbsent("c/2", enc("two")); // HEAD + PUT
      for await (const _ of b.backend.list("c/")) void _;
      await b.backend.delete(["c/1", "c/2"]);
      const bCounts = b.backend.counters();
      await b.backend.close();
      const persisted = readPersistedCounters(cacheDir)!;
      expect(persisted.since).not.toBeNull();
      for (const kind of REQUEST_KINDS) {
        for (const field of ["requests", "failed", "throttled", "retries", "bytesUp", "bytesDown"] as const) {
          expect(persisted.counters[kind][field]).toBe(aCounts[kind][field] + bCounts[kind][field]);
        }
      }
      // s3rver sometimes answers a DeleteObjects of a freshly emptied directory with 500: retried, and counted.
      expect(persisted.counters).toMatchObject({ PUT: { requests: 2, bytesUp: 6 }, GET: { requests: 1, bytesDown: 3 }, HEAD: { requests: 1 }, LIST: { requests: 1 } });
      expect(persisted.counters.DELETE.requests - persisted.counters.DELETE.retries).toBe(1);
    } finally {
      await b.cleanup?.();
    }
  });

  test("requests in flight stay within max-requests, and the rate limit holds the bandwidth", async () => {
    const slow = await startFaultProxy(s3, { delay: 1, delayMs: 30 });
    const limited = await openTestBackend(s3EndpointConfig(slow.endpoint, { name: "limited", maxRequests: 3 }), bucket);
    const MiB = 1024 * 1024;
    const throttled = await openTestBackend(s3EndpointConfig(s3.endpoint, { name: "rate-limited", rateLimit: 2 * MiB }), bucket);
    try {
      await Promise.all(Array.from({ length: 15 }, (_, i) => limited.backend.put(`l/${i}`, enc(String(i)))));
      expect(slow.stats.maxInFlight).toBe(3);

      const started = performance.now();
      for (let i = 0; i < 4; i++) await throttled.backend.put(`rate/${i}`, new Uint8Array(MiB));
      expect(performance.now() - started).toBeGreaterThan(400); // 4 MiB at 2 MiB/s with a 2 MiB burst
    } finally {
      await limited.cleanup?.();
      await throttled.cleanup?.();
      await slow.stop();
    }
  });
});
