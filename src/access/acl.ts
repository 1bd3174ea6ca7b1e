/**
 * ACL entries: (path, auth-id, role, propagate). `update` adds or changes one entry, `remove`
 * deletes one; both refuse unknown auth-ids, roles and malformed paths, naming the bad part.
 */
import { and, eq, sql } from "drizzle-orm";
import type { StateDb } from "../state/db.ts";
import { acl } from "../state/schema/index.ts";
import { normalizeAclPath } from "./acl-path.ts";
import { invalid, notFound } from "./errors.ts";
import { parseAuthId, ROOT_AUTH_ID } from "./ids.ts";
import { isRole, ROLES, type RoleName } from "./roles.ts";
import { findToken } from "./tokens.ts";
import { findUser } from "./users.ts";

export interface AclEntry {
  path: string;
  authId: string;
  role: RoleName;
  propagate: boolean;
}

export function parseRole(role: string): RoleName {
  if (!isRole(role)) throw invalid(`unknown role '${role}'`, `roles: ${ROLES.join(", ")}`);
  return role;
}

function requireAuthIdExists(db: StateDb, authId: string): void {
  const id = parseAuthId(authId);
  if (authId === ROOT_AUTH_ID) throw invalid(`${ROOT_AUTH_ID} always has every privilege; it needs no ACL entry`);
  if (id.kind === "user" && !findUser(db, id.userid)) throw notFound(`user ${authId} does not exist`);
  if (id.kind === "token" && !findToken(db, id.tokenid)) throw notFound(`API token ${authId} does not exist`);
}

export function listAcl(db: StateDb, filter: { path?: string; authId?: string; exact?: boolean } = {}): AclEntry[] {
  const conds = [];
  if (filter.path !== undefined) {
    const p = normalizeAclPath(filter.path);
    // Without `exact`, a path lists its own entries and everything below it.
    if (filter.exact) conds.push(eq(acl.path, p));
    else if (p !== "/") conds.push(sql`(${acl.path} = ${p} OR substr(${acl.path}, 1, ${p.length + 1}) = ${p + "/"})`);
  }
  if (filter.authId !== undefined) conds.push(eq(acl.authId, filter.authId));
  return db
    .select()
    .from(acl)
    .where(conds.length ? and(...conds) : undefined)
    .orderBy(acl.path, acl.authId, acl.role)
    .all()
    .map((r) => ({ path: r.path, authId: r.authId, role: r.role as RoleName, propagate: r.propagate }));
}

export function updateAcl(db: StateDb, entry: { path: string; authId: string; role: string; propagate?: boolean }): AclEntry {
  const path = normalizeAclPath(entry.path);
  const role = parseRole(entry.role);
  requireAuthIdExists(db, entry.authId);
  const row = { path, authId: entry.authId, role, propagate: entry.propagate ?? true };
  db.insert(acl).values(row).onConflictDoUpdate({ target: [acl.path, acl.authId, acl.role], set: { propagate: row.propagate } }).run();
  return row;
}

export function removeAcl(db: StateDb, entry: { path: string; authId: string; role: string }): void {
  const path = normalizeAclPath(entry.path);
  const role = parseRole(entry.role);
  parseAuthId(entry.authId);
  const where = and(eq(acl.path, path), eq(acl.authId, entry.authId), eq(acl.role, role));
  if (!db.select().from(acl).where(where).get()) {
    throw notFound(`no ACL entry ${path} ${entry.authId} ${role}`, "list entries with: ironcore-backup acl list");
  }
  db.delete(acl).where(where).run();
}
