/**
 * Who is calling: an API token in the `Authorization` header
 * (`IBSAPIToken=user@realm!tokenname:secret`), or a login ticket in the `IBSAuthCookie`
 * cookie (plus the CSRF token for state-changing requests). Anything else is a 401.
 * The precise reason a credential failed goes to the audit log; the client learns it only
 * when it has proven it holds the secret (e.g. "token has expired").
 */
import { parseTokenId, parseUserId } from "../../access/ids.ts";
import { checkToken } from "../../access/tokens.ts";
import { findUser, userUsableProblem } from "../../access/users.ts";
import type { StateDb } from "../../state/db.ts";
import { ApiError } from "../errors.ts";
import { CSRF_HEADER, TICKET_COOKIE, verifyCsrfToken, verifyTicket } from "./ticket.ts";

export interface AuthInfo {
  /** `user@realm` or `user@realm!token` */
  authId: string;
  /** The user the identity belongs to. */
  userid: string;
  kind: "user" | "token";
  via: "token" | "ticket";
}

export const TOKEN_SCHEME = "IBSAPIToken";

export class AuthFailure extends ApiError {
  constructor(
    message: string,
    /** For the audit log only. */
    readonly reason: string,
    /** The identity the request claimed, if it named one that is well-formed. */
    readonly claimed: string | null,
  ) {
    super(401, "unauthorized", message, {}, { "WWW-Authenticate": `${TOKEN_SCHEME} realm="ironcore-backup"` });
    this.name = "AuthFailure";
  }
}

export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function authenticate(db: StateDb, ticketKey: Buffer, req: Request, now = Date.now()): AuthInfo {
  const header = req.headers.get("authorization");
  if (header !== null) return authenticateToken(db, header, now);
  const ticket = readCookie(req.headers.get("cookie"), TICKET_COOKIE);
  if (ticket !== undefined) return authenticateTicket(db, ticketKey, ticket, req, now);
  throw new AuthFailure("authentication required: send an API token (Authorization: IBSAPIToken=user@realm!token:secret) or log in", "no credentials", null);
}

function authenticateToken(db: StateDb, header: string, now: number): AuthInfo {
  const m = /^IBSAPIToken[= ]([^:\s]+):(\S+)$/.exec(header.trim());
  if (!m) {
    throw new AuthFailure("malformed Authorization header: expected IBSAPIToken=user@realm!tokenname:secret", "malformed authorization header", null);
  }
  const [, tokenid, secret] = m;
  let userid: string;
  try {
    userid = parseTokenId(tokenid).userid;
  } catch {
    throw new AuthFailure("malformed Authorization header: the token id must be user@realm!tokenname", "malformed token id", null);
  }
  const r = checkToken(db, tokenid, secret, now);
  if (!r.ok) {
    // Only a caller holding the right secret learns more than "invalid".
    const told = r.reason === "no such token" || r.reason === "wrong token secret" ? "invalid API token or secret" : r.reason;
    throw new AuthFailure(`authentication failed: ${told}`, r.reason, tokenid);
  }
  return { authId: tokenid, userid, kind: "token", via: "token" };
}

function authenticateTicket(db: StateDb, key: Buffer, ticket: string, req: Request, now: number): AuthInfo {
  const t = verifyTicket(key, ticket, now);
  if (!t.ok) {
    const expired = t.reason === "ticket expired";
    throw new AuthFailure(expired ? "login ticket expired: log in again" : "invalid login ticket: log in again", t.reason, null);
  }
  try {
    parseUserId(t.userid);
  } catch {
    throw new AuthFailure("invalid login ticket: log in again", "ticket names an invalid user id", null);
  }
  const problem = userUsableProblem(findUser(db, t.userid), now);
  if (problem) throw new AuthFailure(`authentication failed: ${problem}`, problem, t.userid);
  if (!SAFE_METHODS.has(req.method) && !verifyCsrfToken(key, t.userid, req.headers.get(CSRF_HEADER) ?? undefined, now)) {
    throw new AuthFailure(`missing or invalid ${CSRF_HEADER} header (required with the login cookie for changes)`, "CSRF token missing or invalid", t.userid);
  }
  return { authId: t.userid, userid: t.userid, kind: "user", via: "ticket" };
}
