/**
 * Users (`name@realm`). The `ibs` realm keeps argon2id password hashes in the node state
 * database; `root@pam` is the node's built-in superuser and has no row (it is the identity of
 * admin commands run on the node). Removing a user removes its tokens and ACL entries with it.
 */
import { count, eq, or, sql } from "drizzle-orm";
import type { StateDb } from "../state/db.ts";
import { acl, apiTokens, users } from "../state/schema/index.ts";
import { conflict, invalid, notFound } from "./errors.ts";
import { parseUserId, ROOT_AUTH_ID } from "./ids.ts";
import { checkPasswordPolicy, hashPassword, verifyPassword } from "./password.ts";
import { isoOrNull } from "./time-spec.ts";
import { IMMEDIATE } from "../state/db.ts";
import { prepared } from "../state/prepared.ts";

export interface UserInfo {
  userid: string;
  enabled: boolean;
  /** ISO time, or null for never. */
  expire: string | null;
  comment: string | null;
  hasPassword: boolean;
  created: string;
  tokens: number;
}

export interface NewUser {
  userid: string;
  password?: string;
  enabled?: boolean;
  /** unix ms, or null for never */
  expire?: number | null;
  comment?: string | null;
}

type Row = typeof users.$inferSelect;

function toInfo(r: Row, tokens: number): UserInfo {
  return {
    userid: r.userid,
    enabled: r.enabled,
    expire: isoOrNull(r.expire),
    comment: r.comment,
    hasPassword: r.passwordHash !== null,
    created: new Date(r.createdAt).toISOString(),
    tokens,
  };
}

function tokenCount(db: StateDb, userid: string): number {
  return db.select({ n: count() }).from(apiTokens).where(eq(apiTokens.userid, userid)).get()?.n ?? 0;
}

export function userCount(db: StateDb): number {
  return db.select({ n: count() }).from(users).get()?.n ?? 0;
}

export function findUser(db: StateDb, userid: string): Row | undefined {
  return prepared(db, "findUser", (d) => d.select().from(users).where(eq(users.userid, sql.placeholder("userid"))).prepare()).get({ userid });
}

function requireUser(db: StateDb, userid: string): Row {
  parseUserId(userid);
  const row = findUser(db, userid);
  if (!row) throw notFound(`user ${userid} does not exist`, "list users with: ironcore-backup user list");
  return row;
}

export function listUsers(db: StateDb): UserInfo[] {
  return db
    .select()
    .from(users)
    .orderBy(users.userid)
    .all()
    .map((r) => toInfo(r, tokenCount(db, r.userid)));
}

export function getUser(db: StateDb, userid: string): UserInfo {
  const row = requireUser(db, userid);
  return toInfo(row, tokenCount(db, userid));
}

export async function createUser(db: StateDb, u: NewUser): Promise<UserInfo> {
  const id = parseUserId(u.userid);
  if (id.realm !== "ibs") {
    throw invalid(`user ${u.userid}: users can only be created in the 'ibs' realm`, `e.g. ${id.name}@ibs`);
  }
  if (u.password !== undefined) checkPasswordPolicy(u.password);
  // Hash before the write: the slow part must not hold the database's write lock.
  const hash = u.password !== undefined ? await hashPassword(u.password) : null;
  const now = Date.now();
  return db.transaction((tx) => {
    if (tx.select({ u: users.userid }).from(users).where(eq(users.userid, u.userid)).get()) {
      throw conflict(`user ${u.userid} already exists`);
    }
    tx.insert(users)
      .values({
        userid: u.userid,
        passwordHash: hash,
        enabled: u.enabled ?? true,
        expire: u.expire ?? null,
        comment: u.comment ?? null,
        createdAt: now,
        passwordChangedAt: hash ? now : null,
      })
      .run();
    return toInfo(tx.select().from(users).where(eq(users.userid, u.userid)).get()!, 0);
  }, IMMEDIATE);
}

export interface UserUpdate {
  enabled?: boolean;
  expire?: number | null;
  comment?: string | null;
}

export function updateUser(db: StateDb, userid: string, change: UserUpdate): UserInfo {
  requireUser(db, userid);
  const set: Partial<Row> = {};
  if (change.enabled !== undefined) set.enabled = change.enabled;
  if (change.expire !== undefined) set.expire = change.expire;
  if (change.comment !== undefined) set.comment = change.comment;
  if (Object.keys(set).length > 0) db.update(users).set(set).where(eq(users.userid, userid)).run();
  return getUser(db, userid);
}

export async function setPassword(db: StateDb, userid: string, password: string): Promise<void> {
  const row = requireUser(db, userid);
  if (!row.userid.endsWith("@ibs")) throw invalid(`user ${userid}: only 'ibs' realm users have passwords stored here`);
  checkPasswordPolicy(password);
  const hash = await hashPassword(password);
  db.update(users).set({ passwordHash: hash, passwordChangedAt: Date.now() }).where(eq(users.userid, userid)).run();
}

export function removeUser(db: StateDb, userid: string): void {
  if (userid === ROOT_AUTH_ID) throw invalid(`${ROOT_AUTH_ID} is built in and cannot be removed`);
  requireUser(db, userid);
  db.transaction((tx) => {
    // ACL entries of the user and of every token of the user (tokens go by the FK cascade).
    tx.delete(acl).where(or(eq(acl.authId, userid), sql`substr(${acl.authId}, 1, ${userid.length + 1}) = ${userid + "!"}`)).run();
    tx.delete(users).where(eq(users.userid, userid)).run();
  }, IMMEDIATE);
}

/** Why a user may not authenticate now, or null when it may. */
export function userUsableProblem(row: Row | undefined, now = Date.now()): string | null {
  if (!row) return "no such user";
  if (!row.enabled) return "user is disabled";
  if (row.expire !== null && row.expire <= now) return "user account has expired";
  return null;
}

/**
 * Checks a password login. Takes the same time whether or not the user exists, and never says
 * which part was wrong: callers answer "invalid credentials" to the client and keep `reason`
 * for the audit log.
 */
export async function checkLogin(db: StateDb, userid: string, password: string): Promise<{ ok: boolean; reason: string }> {
  const row = findUser(db, userid);
  const passwordOk = await verifyPassword(password, row?.passwordHash ?? null);
  if (!row) return { ok: false, reason: "no such user" };
  if (!row.passwordHash) return { ok: false, reason: "user has no password" };
  if (!passwordOk) return { ok: false, reason: "wrong password" };
  const problem = userUsableProblem(row);
  if (problem) return { ok: false, reason: problem };
  return { ok: true, reason: "ok" };
}
