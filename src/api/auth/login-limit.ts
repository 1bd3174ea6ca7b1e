/**
 * Failed-login throttling, per user name and per client address, in the node state database
 * (so every api process of the node sees the same counters). After `perUser` failures for one
 * user name, or `perSource` failures from one address, within `windowMs`, further logins for
 * that name or from that address are refused with 429 until the window has passed, without
 * checking the password: that is what makes guessing slow, and it costs no hashing work.
 * A successful login clears the user's counter; setting a new password does too.
 */
import { and, eq, sql } from "drizzle-orm";
import type { StateDb } from "../../state/db.ts";
import { loginFailures } from "../../state/schema/index.ts";
import { IMMEDIATE } from "../../state/db.ts";

export interface LoginLimits {
  windowMs: number;
  perUser: number;
  perSource: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { windowMs: 15 * 60_000, perUser: 5, perSource: 20 };

export interface LoginBlock {
  scope: "user" | "source";
  key: string;
  retryAfterSec: number;
}

type Scope = "user" | "source";

function counter(db: StateDb, scope: Scope, key: string) {
  return db.select().from(loginFailures).where(and(eq(loginFailures.scope, scope), eq(loginFailures.key, key))).get();
}

export function loginBlocked(db: StateDb, user: string, source: string, limits = DEFAULT_LOGIN_LIMITS, now = Date.now()): LoginBlock | null {
  for (const [scope, key, max] of [["user", user, limits.perUser], ["source", source, limits.perSource]] as const) {
    const c = counter(db, scope, key);
    if (c && c.failures >= max && now - c.windowStart < limits.windowMs) {
      return { scope, key, retryAfterSec: Math.ceil((c.windowStart + limits.windowMs - now) / 1000) };
    }
  }
  return null;
}

export function recordLoginFailure(db: StateDb, user: string, source: string, limits = DEFAULT_LOGIN_LIMITS, now = Date.now()): void {
  db.transaction((tx) => {
    for (const [scope, key] of [["user", user], ["source", source]] as const) {
      tx.insert(loginFailures)
        .values({ scope, key, failures: 1, windowStart: now })
        .onConflictDoUpdate({
          target: [loginFailures.scope, loginFailures.key],
          // A window that has passed starts over at this failure.
          set: {
            failures: sql`CASE WHEN ${now} - ${loginFailures.windowStart} >= ${limits.windowMs} THEN 1 ELSE ${loginFailures.failures} + 1 END`,
            windowStart: sql`CASE WHEN ${now} - ${loginFailures.windowStart} >= ${limits.windowMs} THEN ${now} ELSE ${loginFailures.windowStart} END`,
          },
        })
        .run();
    }
  }, IMMEDIATE);
}

export function clearUserFailures(db: StateDb, user: string): void {
  db.delete(loginFailures).where(and(eq(loginFailures.scope, "user"), eq(loginFailures.key, user))).run();
}
