import { describe, expect, test } from "bun:test";
import { backoffDelayMs, DEFAULT_RETRY_POLICY, retryReason, withRetry } from "../../../src/datastore/backends/s3-retry.ts";
import { Semaphore, TokenBucket } from "../../../src/datastore/backends/s3-limits.ts";

const s3err = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
const neterr = (code: string, message = code) => Object.assign(new Error(message), { code });

describe("retry classification", () => {
  test("throttling, 5xx, timeouts and broken connections are retried; request errors are not", () => {
    expect(retryReason(s3err("SlowDown", 503))).toBe("throttled");
    expect(retryReason(s3err("TooManyRequests", 429))).toBe("throttled");
    expect(retryReason(s3err("ConditionalRequestConflict", 409))).toBe("throttled");
    expect(retryReason(s3err("ServiceUnavailable", 503))).toBe("throttled");
    expect(retryReason(s3err("InternalError", 500))).toBe("server-error");
    expect(retryReason(s3err("Unknown", 502))).toBe("server-error");
    expect(retryReason(s3err("RequestTimeout", 400))).toBe("timeout");
    expect(retryReason(Object.assign(new Error("Connection timed out after 500 ms"), { name: "TimeoutError" }))).toBe("timeout");
    expect(retryReason(neterr("ECONNRESET"))).toBe("connection");
    expect(retryReason(neterr("EPIPE"))).toBe("connection");
    expect(retryReason(new Error("socket hang up"))).toBe("connection");
    for (const e of [s3err("NoSuchKey", 404), s3err("AccessDenied", 403), s3err("InvalidAccessKeyId", 403), s3err("PreconditionFailed", 412), s3err("NoSuchBucket", 404), s3err("BucketAlreadyExists", 409), neterr("ENOTFOUND"), new Error("some bug")]) {
      expect(retryReason(e)).toBeNull();
    }
  });

  test("backoff grows exponentially with jitter inside [cap/2, cap], throttling starts higher, capped", () => {
    const policy = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelayMs(1, policy, "server-error", () => 0)).toBe(50);
    expect(backoffDelayMs(1, policy, "server-error", () => 1)).toBe(100);
    expect(backoffDelayMs(3, policy, "server-error", () => 0)).toBe(200);
    expect(backoffDelayMs(3, policy, "throttled", () => 0)).toBe(500); // 400 * 4 capped at 1000, half of it
    expect(backoffDelayMs(20, policy, "server-error", () => 1)).toBe(1000);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelayMs(4, DEFAULT_RETRY_POLICY)));
    expect(spread.size).toBeGreaterThan(10);
  });

  test("withRetry retries until success, stops at once on a non-retryable error, and records the attempts", async () => {
    const waits: number[] = [];
    let calls = 0;
    const ok = await withRetry(
      async (attempt) => {
        calls++;
        if (attempt < 4) throw s3err("SlowDown", 503);
        return "done";
      },
      { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 10 },
      { sleep: async (ms) => void waits.push(ms) },
    );
    expect(ok).toBe("done");
    expect(calls).toBe(4);
    expect(waits.length).toBe(3);

    const denied = await withRetry(async () => {
      throw s3err("AccessDenied", 403);
    }, DEFAULT_RETRY_POLICY).catch((e) => e);
    expect(denied.name).toBe("AccessDenied");
    expect(denied.attempts).toBe(1);

    const exhausted = await withRetry(async () => {
      throw neterr("ECONNRESET");
    }, { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 }).catch((e) => e);
    expect(exhausted.attempts).toBe(3);
  });
});

describe("limits", () => {
  test("a semaphore never lets more than its size run, and hands slots on in order", async () => {
    const sem = new Semaphore(3);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const release = await sem.acquire();
        running++;
        peak = Math.max(peak, running);
        order.push(i);
        await Bun.sleep(5);
        running--;
        release();
        release(); // a double release must not add a slot
      }),
    );
    expect(peak).toBe(3);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(sem.inFlight).toBe(0);
  });

  test("a token bucket holds the byte rate: six 0.5 MiB takes at 4 MiB/s with a 1 MiB burst wait about 0.375 s", async () => {
    const MiB = 1024 * 1024;
    const bucket = new TokenBucket(4 * MiB, MiB);
    const started = performance.now();
    for (let i = 0; i < 5; i++) await bucket.take(MiB / 2);
    await bucket.take(MiB / 2); // this one has to wait for the debt of the ones before
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThan(300);
    expect(elapsed).toBeLessThan(2000);
  });
});
