import { describe, expect, test } from "bun:test";
import { clearUserFailures, loginBlocked, recordLoginFailure } from "../../../src/api/auth/login-limit.ts";
import { createCsrfToken, createTicket, verifyCsrfToken, verifyTicket } from "../../../src/api/auth/ticket.ts";
import { parseExpire, parseTimeSpec } from "../../../src/access/time-spec.ts";
import { testNode } from "./access-test-helpers.ts";

const key = Buffer.alloc(32, 1);
const otherKey = Buffer.alloc(32, 2);

describe("tickets and CSRF tokens", () => {
  test("a ticket verifies with its key until it expires, and not when altered", () => {
    const t0 = Date.UTC(2026, 0, 1);
    const t = createTicket(key, "alice@ibs", t0);
    expect(t).toMatch(/^IBS:alice@ibs:[0-9A-F]{8}::[A-Za-z0-9_-]{43}$/);
    expect(verifyTicket(key, t, t0 + 3600_000)).toEqual({ ok: true, userid: "alice@ibs" });
    expect(verifyTicket(key, t, t0 + 2 * 3600_000 + 1000)).toEqual({ ok: false, reason: "ticket expired" });
    expect(verifyTicket(otherKey, t, t0).ok).toBe(false);
    expect(verifyTicket(key, t.replace("alice@ibs", "admin@ibs"), t0)).toEqual({ ok: false, reason: "ticket signature does not match" });
    expect(verifyTicket(key, "garbage", t0).ok).toBe(false);
  });

  test("a CSRF token is bound to its user", () => {
    const c = createCsrfToken(key, "alice@ibs");
    expect(verifyCsrfToken(key, "alice@ibs", c)).toBe(true);
    expect(verifyCsrfToken(key, "bob@ibs", c)).toBe(false);
    expect(verifyCsrfToken(key, "alice@ibs", undefined)).toBe(false);
  });
});

describe("failed-login throttling", () => {
  const limits = { windowMs: 60_000, perUser: 3, perSource: 5 };

  test("per user: blocked after the limit until the window passes; success clears it", () => {
    const { db } = testNode();
    const t = 1_000_000;
    for (let i = 0; i < 3; i++) recordLoginFailure(db, "alice@ibs", `10.0.0.${i}`, limits, t + i);
    expect(loginBlocked(db, "alice@ibs", "10.0.0.9", limits, t + 10)).toMatchObject({ scope: "user", key: "alice@ibs", retryAfterSec: 60 });
    expect(loginBlocked(db, "bob@ibs", "10.0.0.9", limits, t + 10)).toBeNull();
    expect(loginBlocked(db, "alice@ibs", "10.0.0.9", limits, t + 60_001)).toBeNull();
    // a failure after the window starts a new count
    recordLoginFailure(db, "alice@ibs", "10.0.0.1", limits, t + 70_000);
    expect(loginBlocked(db, "alice@ibs", "10.0.0.9", limits, t + 70_001)).toBeNull();
    for (let i = 0; i < 2; i++) recordLoginFailure(db, "alice@ibs", "10.0.0.1", limits, t + 70_002);
    expect(loginBlocked(db, "alice@ibs", "10.0.0.9", limits, t + 70_003)?.scope).toBe("user");
    clearUserFailures(db, "alice@ibs");
    expect(loginBlocked(db, "alice@ibs", "10.0.0.9", limits, t + 70_003)).toBeNull();
  });

  test("per source: many user names from one address are blocked there only", () => {
    const { db } = testNode();
    const t = 2_000_000;
    for (let i = 0; i < 5; i++) recordLoginFailure(db, `user${i}@ibs`, "192.0.2.7", limits, t);
    expect(loginBlocked(db, "fresh@ibs", "192.0.2.7", limits, t + 1)).toMatchObject({ scope: "source", key: "192.0.2.7" });
    expect(loginBlocked(db, "fresh@ibs", "192.0.2.8", limits, t + 1)).toBeNull();
  });
});

describe("time specs", () => {
  const now = Date.UTC(2026, 5, 1, 12);
  test("durations, dates and epochs", () => {
    expect(parseTimeSpec("24h", "past", "since", now)).toBe(now - 86_400_000);
    expect(parseTimeSpec("2027-01-31", "future", "expire", now)).toBe(Date.UTC(2027, 0, 31));
    expect(parseTimeSpec("2027-01-31T10:00:00+02:00", "future", "expire", now)).toBe(Date.UTC(2027, 0, 31, 8));
    expect(parseTimeSpec("@1800000000", "future", "expire", now)).toBe(1_800_000_000_000);
    expect(parseExpire("never", "expire", now)).toBeNull();
    expect(parseExpire("30d", "expire", now)).toBe(now + 30 * 86_400_000);
    expect(() => parseExpire("2020-01-01", "--expire", now)).toThrow("--expire: '2020-01-01' lies in the past");
    expect(() => parseTimeSpec("yesterday-ish", "past", "--since", now)).toThrow("--since: cannot read 'yesterday-ish' as a time");
  });
});
