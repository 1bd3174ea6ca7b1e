/**
 * The backend conformance suite against a real S3 server (s3rver): directly (s3rver ignores
 * If-None-Match, so the HEAD-then-PUT fallback is what passes), and through the proxy that
 * enforces If-None-Match (the conditional PUT path) while injecting 503 SlowDown, 500s,
 * connection resets before and after the request took effect, and delays on ~10% of requests.
 * The conditional path without faults is in backend.test.ts.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type FaultProxy, type S3TestServer, s3EndpointConfig, startFaultProxy, startS3rver, uniqueBucket } from "../../helpers/s3.ts";
import { runBackendConformance } from "../datastore/backend-conformance.ts";
import { openTestBackend } from "./s3-test-env.ts";

let s3: S3TestServer;
let faulty: FaultProxy;
const bucket = uniqueBucket("conf");

beforeAll(async () => {
  s3 = await startS3rver();
  await s3.createBucket(bucket);
  faulty = await startFaultProxy(s3, { slowDown: 0.025, error500: 0.015, reset: 0.02, resetAfter: 0.02, delay: 0.02, delayMs: 50 });
});

afterAll(async () => {
  await faulty?.stop();
  await s3?.stop();
});

runBackendConformance("s3 (s3rver direct: conditional-create fallback)", () => openTestBackend(s3EndpointConfig(s3.endpoint), bucket));
runBackendConformance("s3 (through a proxy enforcing If-None-Match and injecting faults on ~10% of requests)", () => openTestBackend(s3EndpointConfig(faulty.endpoint, { name: "faulty" }), bucket));

test("the proxy really injected every kind of fault, and enforced If-None-Match", () => {
  const f = faulty.stats.injected;
  expect(faulty.stats.requests).toBeGreaterThan(1000);
  for (const kind of ["slowdown", "error500", "reset", "reset-after", "delay"] as const) expect(f[kind]).toBeGreaterThan(0);
  expect(faulty.stats.preconditionFailed).toBeGreaterThan(0);
});
