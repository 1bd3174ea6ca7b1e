/**
 * Built-in roles (there are no custom roles, as in PBS): each is a fixed set of privileges.
 * `NoAccess` is special: on an ACL node it overrides every other role of the same auth-id there.
 */
import { PRIVILEGES, type Privilege } from "./privileges.ts";

const DATASTORE_ALL: Privilege[] = ["Datastore.Audit", "Datastore.Modify", "Datastore.Read", "Datastore.Verify", "Datastore.Backup", "Datastore.Prune"];

export const ROLE_PRIVILEGES = {
  Admin: [...PRIVILEGES],
  Audit: ["Sys.Audit", "Datastore.Audit", "Remote.Audit", "Tape.Audit"],
  NoAccess: [],
  DatastoreAdmin: DATASTORE_ALL,
  DatastoreReader: ["Datastore.Audit", "Datastore.Verify", "Datastore.Read"],
  // Backup also lets the owner read and verify its own groups; that check lives with the
  // datastore routes (ownership), not here.
  DatastoreBackup: ["Datastore.Backup"],
  DatastorePowerUser: ["Datastore.Backup", "Datastore.Prune"],
  DatastoreAudit: ["Datastore.Audit"],
  RemoteAudit: ["Remote.Audit"],
  RemoteAdmin: ["Remote.Audit", "Remote.Modify", "Remote.Read"],
  RemoteSyncOperator: ["Remote.Audit", "Remote.Read"],
  TapeAudit: ["Tape.Audit"],
  TapeAdmin: ["Tape.Audit", "Tape.Modify", "Tape.Write", "Tape.Read"],
  TapeOperator: ["Tape.Audit", "Tape.Read", "Tape.Write"],
  TapeReader: ["Tape.Audit", "Tape.Read"],
} satisfies Record<string, Privilege[]>;

export type RoleName = keyof typeof ROLE_PRIVILEGES;
export const ROLES = Object.keys(ROLE_PRIVILEGES) as RoleName[];

export function isRole(s: string): s is RoleName {
  return Object.hasOwn(ROLE_PRIVILEGES, s);
}

export function rolePrivileges(role: RoleName): readonly Privilege[] {
  return ROLE_PRIVILEGES[role];
}
