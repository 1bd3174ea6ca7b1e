/**
 * Effective privileges of an auth-id on an ACL path, as PBS computes them:
 * walk from `/` down to the path; at each node take the auth-id's entries there (all of them
 * on the path itself, only propagating ones on its ancestors); a node with entries replaces
 * what was inherited, and `NoAccess` on a node overrides the other roles on that node.
 *
 * Tokens: with privilege separation (the default) a token has its own ACL entries, and its
 * privileges are those intersected with its user's, so a token never exceeds its user. Without
 * it, the token has exactly its user's privileges.
 */
import { eq, sql } from "drizzle-orm";
import type { StateDb } from "../state/db.ts";
import { prepared } from "../state/prepared.ts";
import { acl } from "../state/schema/index.ts";
import { aclPathChain } from "./acl-path.ts";
import { parseAuthId, ROOT_AUTH_ID } from "./ids.ts";
import { PRIVILEGES, type Privilege } from "./privileges.ts";
import { isRole, rolePrivileges, type RoleName } from "./roles.ts";
import { findToken } from "./tokens.ts";

interface Entry {
  path: string;
  role: string;
  propagate: boolean;
}

/** The roles an auth-id holds on `path`, from a list of its entries (pure; unit-tested). */
export function rolesOnPath(entries: Entry[], path: string): RoleName[] {
  const chain = aclPathChain(path);
  let roles: RoleName[] = [];
  chain.forEach((node, i) => {
    const isTarget = i === chain.length - 1;
    const here = entries.filter((e) => e.path === node && (isTarget || e.propagate) && isRole(e.role)).map((e) => e.role as RoleName);
    if (here.length === 0) return;
    roles = here.includes("NoAccess") ? ["NoAccess"] : [...new Set(here)];
  });
  return roles;
}

export function privilegesOfRoles(roles: RoleName[]): Set<Privilege> {
  const out = new Set<Privilege>();
  for (const r of roles) for (const p of rolePrivileges(r)) out.add(p);
  return out;
}

function entriesOf(db: StateDb, authId: string): Entry[] {
  const q = prepared(db, "aclEntriesOf", (d) =>
    d.select({ path: acl.path, role: acl.role, propagate: acl.propagate }).from(acl).where(eq(acl.authId, sql.placeholder("authId"))).prepare(),
  );
  return q.all({ authId });
}

export function effectivePrivileges(db: StateDb, authId: string, path: string): Set<Privilege> {
  if (authId === ROOT_AUTH_ID) return new Set(PRIVILEGES);
  const id = parseAuthId(authId);
  const userPrivs = privilegesOfRoles(rolesOnPath(entriesOf(db, id.userid), path));
  if (id.kind === "user") return userPrivs;
  const token = findToken(db, id.tokenid);
  if (!token) return new Set();
  if (!token.privsep) return userPrivs;
  const tokenPrivs = privilegesOfRoles(rolesOnPath(entriesOf(db, id.tokenid), path));
  return new Set([...tokenPrivs].filter((p) => userPrivs.has(p)));
}

export function hasPrivilege(db: StateDb, authId: string, path: string, priv: Privilege): boolean {
  return effectivePrivileges(db, authId, path).has(priv);
}
