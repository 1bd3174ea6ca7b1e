/**
 * Password login: checks the throttle, the password, and answers with a signed ticket and a
 * CSRF token. Every attempt, successful or not, is written to the audit log; the password never is.
 */
import { isValidUserId } from "../../access/ids.ts";
import { checkLogin } from "../../access/users.ts";
import type { AuditSink } from "../../audit/audit-log.ts";
import type { StateDb } from "../../state/db.ts";
import { ApiError, unauthorized } from "../errors.ts";
import { clearUserFailures, DEFAULT_LOGIN_LIMITS, loginBlocked, recordLoginFailure, type LoginLimits } from "./login-limit.ts";
import { createCsrfToken, createTicket } from "./ticket.ts";

export interface LoginDeps {
  db: StateDb;
  ticketKey: Buffer;
  audit: AuditSink;
  loginLimits?: LoginLimits;
}

export interface LoginResult {
  username: string;
  ticket: string;
  CSRFPreventionToken: string;
}

export async function login(deps: LoginDeps, username: string, password: string, source: string): Promise<LoginResult> {
  const limits = deps.loginLimits ?? DEFAULT_LOGIN_LIMITS;
  const claimed = isValidUserId(username) ? username : null;
  const audit = (result: string) => deps.audit.record({ authId: claimed, source, action: "login", target: claimed ?? "(invalid user name)", result });

  const blocked = loginBlocked(deps.db, username, source, limits);
  if (blocked) {
    audit(`429 rate_limited: too many failed logins (${blocked.scope})`);
    const who = blocked.scope === "user" ? `for ${claimed ?? "this user name"}` : `from ${source}`;
    throw new ApiError(429, "rate_limited", `too many failed logins ${who}; try again in ${blocked.retryAfterSec} s`, { retryAfterSec: blocked.retryAfterSec }, {
      "Retry-After": String(blocked.retryAfterSec),
    });
  }
  const r = claimed ? await checkLogin(deps.db, claimed, password) : { ok: false, reason: "invalid user name" };
  if (!r.ok) {
    recordLoginFailure(deps.db, username, source, limits);
    audit(`401 unauthorized: ${r.reason}`);
    throw unauthorized("authentication failed: invalid user name or password");
  }
  clearUserFailures(deps.db, username);
  audit("ok");
  return { username: claimed!, ticket: createTicket(deps.ticketKey, claimed!), CSRFPreventionToken: createCsrfToken(deps.ticketKey, claimed!) };
}
