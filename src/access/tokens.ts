/**
 * API tokens (`name@realm!tokenname`) for scripts and clients. The secret is 256 random bits,
 * shown once at creation; only its SHA-256 is stored (a slow hash adds nothing for a secret
 * of that entropy and would slow every request). A token works only while it and its user are
 * enabled and unexpired; what it may do is limited by its user's rights (see permissions.ts).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type { StateDb } from "../state/db.ts";
import { prepared } from "../state/prepared.ts";
import { acl, apiTokens } from "../state/schema/index.ts";
import { conflict, notFound } from "./errors.ts";
import { parseTokenId, parseUserId } from "./ids.ts";
import { findUser, userUsableProblem } from "./users.ts";
import { isoOrNull } from "./time-spec.ts";
import { IMMEDIATE } from "../state/db.ts";

export interface TokenInfo {
  tokenid: string;
  userid: string;
  enabled: boolean;
  expire: string | null;
  /** true: the token has only its own ACL entries (within the user's rights). */
  privsep: boolean;
  comment: string | null;
  created: string;
}

export interface NewToken {
  enabled?: boolean;
  expire?: number | null;
  privsep?: boolean;
  comment?: string | null;
}

type Row = typeof apiTokens.$inferSelect;

function toInfo(r: Row): TokenInfo {
  return {
    tokenid: r.tokenid,
    userid: r.userid,
    enabled: r.enabled,
    expire: isoOrNull(r.expire),
    privsep: r.privsep,
    comment: r.comment,
    created: new Date(r.createdAt).toISOString(),
  };
}

const hashSecret = (secret: string) => createHash("sha256").update(secret).digest("hex");

export function findToken(db: StateDb, tokenid: string): Row | undefined {
  return prepared(db, "findToken", (d) => d.select().from(apiTokens).where(eq(apiTokens.tokenid, sql.placeholder("tokenid"))).prepare()).get({ tokenid });
}

function requireToken(db: StateDb, tokenid: string): Row {
  parseTokenId(tokenid);
  const row = findToken(db, tokenid);
  if (!row) throw notFound(`API token ${tokenid} does not exist`, "list tokens with: ironcore-backup user token list <user>");
  return row;
}

export function listTokens(db: StateDb, userid?: string): TokenInfo[] {
  if (userid !== undefined) {
    parseUserId(userid);
    if (!findUser(db, userid)) throw notFound(`user ${userid} does not exist`);
  }
  const q = db.select().from(apiTokens);
  const rows = userid !== undefined ? q.where(eq(apiTokens.userid, userid)).orderBy(apiTokens.tokenid).all() : q.orderBy(apiTokens.tokenid).all();
  return rows.map(toInfo);
}

export function getToken(db: StateDb, tokenid: string): TokenInfo {
  return toInfo(requireToken(db, tokenid));
}

/** Creates a token and returns its secret: the only time the secret exists outside the caller. */
export function createToken(db: StateDb, tokenid: string, opts: NewToken = {}): { token: TokenInfo; secret: string } {
  const id = parseTokenId(tokenid);
  if (!findUser(db, id.userid)) throw notFound(`user ${id.userid} does not exist`, "create the user first: ironcore-backup user create " + id.userid);
  const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  db.transaction((tx) => {
    if (tx.select({ t: apiTokens.tokenid }).from(apiTokens).where(eq(apiTokens.tokenid, tokenid)).get()) {
      throw conflict(`API token ${tokenid} already exists`, "remove it first, or choose another token name");
    }
    tx.insert(apiTokens)
      .values({
        tokenid,
        userid: id.userid,
        secretHash: hashSecret(secret),
        enabled: opts.enabled ?? true,
        expire: opts.expire ?? null,
        privsep: opts.privsep ?? true,
        comment: opts.comment ?? null,
        createdAt: Date.now(),
      })
      .run();
  }, IMMEDIATE);
  return { token: getToken(db, tokenid), secret };
}

export function updateToken(db: StateDb, tokenid: string, change: NewToken): TokenInfo {
  requireToken(db, tokenid);
  const set: Partial<Row> = {};
  if (change.enabled !== undefined) set.enabled = change.enabled;
  if (change.expire !== undefined) set.expire = change.expire;
  if (change.privsep !== undefined) set.privsep = change.privsep;
  if (change.comment !== undefined) set.comment = change.comment;
  if (Object.keys(set).length > 0) db.update(apiTokens).set(set).where(eq(apiTokens.tokenid, tokenid)).run();
  return getToken(db, tokenid);
}

export function removeToken(db: StateDb, tokenid: string): void {
  requireToken(db, tokenid);
  db.transaction((tx) => {
    tx.delete(acl).where(eq(acl.authId, tokenid)).run();
    tx.delete(apiTokens).where(eq(apiTokens.tokenid, tokenid)).run();
  }, IMMEDIATE);
}

/**
 * Checks a token and its secret. The result names the reason for the audit log; clients are
 * only told that authentication failed.
 */
export function checkToken(db: StateDb, tokenid: string, secret: string, now = Date.now()): { ok: boolean; reason: string } {
  let row: Row | undefined;
  try {
    parseTokenId(tokenid);
    row = findToken(db, tokenid);
  } catch {
    return { ok: false, reason: "malformed token id" };
  }
  const given = Buffer.from(hashSecret(secret), "hex");
  const stored = Buffer.from(row?.secretHash ?? hashSecret(""), "hex");
  const secretOk = timingSafeEqual(given, stored);
  if (!row) return { ok: false, reason: "no such token" };
  if (!secretOk) return { ok: false, reason: "wrong token secret" };
  if (!row.enabled) return { ok: false, reason: "token is disabled" };
  if (row.expire !== null && row.expire <= now) return { ok: false, reason: "token has expired" };
  const userProblem = userUsableProblem(findUser(db, row.userid), now);
  if (userProblem) return { ok: false, reason: `token's ${userProblem}` };
  return { ok: true, reason: "ok" };
}

