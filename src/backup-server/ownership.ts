/**
 * Who may write to and read from a backup group, as PBS decides it:
 *
 * - the owner of a group is the auth-id that created it (a user or a token);
 * - writing: the owner may add snapshots; a user may also use the groups its own tokens own
 *   (but a token may not use its user's groups); `Datastore.Modify` on the namespace allows
 *   writing into any group, keeping its owner;
 * - reading: `Datastore.Read` (or `Audit` for listings) on the namespace, or `Datastore.Backup`
 *   there and being the owner. The refusal is the same whether the group exists or not, so a
 *   caller cannot probe for other people's groups.
 */
import { parseAuthId } from "../access/ids.ts";
import { normalizeAclPath } from "../access/acl-path.ts";
import { hasPrivilege } from "../access/permissions.ts";
import type { Privilege } from "../access/privileges.ts";
import type { Namespace } from "../datastore/snapshot-path.ts";
import type { StateDb } from "../state/db.ts";
import { ApiError } from "../api/errors.ts";

/** `/datastore/<store>[/<ns>...]`, the ACL path a datastore namespace is checked on. */
export function datastoreAclPath(store: string, ns: Namespace): string {
  return normalizeAclPath(["", "datastore", store, ...ns].join("/"));
}

/** PBS's owner check: the auth-id itself, or a user over a group owned by one of its tokens. */
export function isGroupOwner(owner: string | null, authId: string): boolean {
  if (owner === null) return false;
  if (owner === authId) return true;
  try {
    const o = parseAuthId(owner);
    const a = parseAuthId(authId);
    return o.kind === "token" && a.kind === "user" && o.userid === a.userid;
  } catch {
    return false; // an owner file with a name we do not understand belongs to nobody we know
  }
}

/** A 403 in the router's shape (`details.privilege`, `details.path`), naming the alternative. */
export function permissionRefused(priv: Privilege, path: string, alternative?: string): ApiError {
  return new ApiError(403, "forbidden", `permission check failed: ${priv} on ${path}${alternative ? ` (or ${alternative})` : ""} is required`, { privilege: priv, path });
}

export interface AccessDecision {
  /** Full access on the path (Read, Audit, Prune, Modify: whatever was asked). */
  full: boolean;
  /** Only the caller's own groups (through Datastore.Backup). */
  ownOnly: boolean;
}

/**
 * `priv` on the path gives full access; otherwise `Datastore.Backup` there gives access to own
 * groups; otherwise a 403 naming both.
 */
export function privOrOwnGroups(db: StateDb, authId: string, path: string, priv: Privilege): AccessDecision {
  if (hasPrivilege(db, authId, path, priv)) return { full: true, ownOnly: false };
  if (hasPrivilege(db, authId, path, "Datastore.Backup")) return { full: false, ownOnly: true };
  throw permissionRefused(priv, path, "Datastore.Backup as the owner of the group");
}

/** Like privOrOwnGroups for one group: passes with `priv`, or with Backup when the caller owns it. */
export async function requirePrivOrOwner(db: StateDb, authId: string, path: string, priv: Privilege, owner: () => Promise<string | null>): Promise<void> {
  const d = privOrOwnGroups(db, authId, path, priv);
  if (d.full) return;
  if (!isGroupOwner(await owner(), authId)) throw permissionRefused(priv, path, "Datastore.Backup as the owner of the group");
}
