/**
 * Auth-ids: users `name@realm` and API tokens `name@realm!tokenname`.
 *
 * Names are deliberately narrow (ASCII letters, digits, `.`, `_`, `-`, not starting with a dot
 * or dash): they appear in ACL paths, file names of later features, log lines and URLs, so a
 * name can never carry a path separator, `..`, whitespace, control characters, look-alike
 * Unicode or a replacement character from undecodable input.
 */
import { invalid } from "./errors.ts";

export const REALMS = ["ibs", "pam"] as const;
export type Realm = (typeof REALMS)[number];

/** The node's superuser: admin commands run on the node act as this identity (like PBS). */
export const ROOT_AUTH_ID = "root@pam";

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;
const REALM = /^[a-z][a-z0-9-]{1,31}$/;

export interface UserId {
  kind: "user";
  userid: string;
  name: string;
  realm: string;
}

export interface TokenId {
  kind: "token";
  tokenid: string;
  userid: string;
  tokenName: string;
}

export type AuthId = UserId | TokenId;

/** Why a string is not a valid name, or null when it is. */
export function nameProblem(s: string, what: string): string | null {
  if (s.length === 0) return `${what} is empty`;
  if (s.length > 64) return `${what} is longer than 64 characters`;
  if (!NAME.test(s)) {
    return `${what} '${printable(s)}' may only contain A-Z, a-z, 0-9, '.', '_', '-' and must not start with '.' or '-'`;
  }
  return null;
}

export function parseUserId(s: string, what = "user id"): UserId {
  const at = s.lastIndexOf("@");
  if (at <= 0) throw invalid(`${what} '${printable(s)}' is not of the form name@realm (e.g. alice@ibs)`);
  const name = s.slice(0, at);
  const realm = s.slice(at + 1);
  const np = nameProblem(name, `${what}: user name`);
  if (np) throw invalid(np);
  if (!REALM.test(realm)) throw invalid(`${what} '${printable(s)}': realm '${printable(realm)}' is not a valid realm name`);
  if (!(REALMS as readonly string[]).includes(realm)) {
    throw invalid(`${what} '${printable(s)}': unknown realm '${realm}'`, `known realms: ${REALMS.join(", ")}`);
  }
  return { kind: "user", userid: s, name, realm };
}

export function parseTokenId(s: string, what = "token id"): TokenId {
  const bang = s.indexOf("!");
  if (bang < 0) throw invalid(`${what} '${printable(s)}' is not of the form name@realm!tokenname`);
  const user = parseUserId(s.slice(0, bang), what);
  const tokenName = s.slice(bang + 1);
  const np = nameProblem(tokenName, `${what}: token name`);
  if (np) throw invalid(np);
  return { kind: "token", tokenid: s, userid: user.userid, tokenName };
}

export function parseAuthId(s: string, what = "auth-id"): AuthId {
  return s.includes("!") ? parseTokenId(s, what) : parseUserId(s, what);
}

export function isValidUserId(s: string): boolean {
  try {
    parseUserId(s);
    return true;
  } catch {
    return false;
  }
}

export function isValidAuthId(s: string): boolean {
  try {
    parseAuthId(s);
    return true;
  } catch {
    return false;
  }
}

/** A name as it may be shown in an error: control characters escaped, length capped. */
export function printable(s: string): string {
  const cut = s.length > 80 ? s.slice(0, 80) + "…" : s;
  return cut.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
