/**
 * Privileges: the unit every API route asks for on an ACL path. Modelled on Proxmox Backup
 * Server's set so administrators find the names they know.
 */
export const PRIVILEGES = [
  "Sys.Audit",
  "Sys.Modify",
  "Sys.PowerManagement",
  "Datastore.Audit",
  "Datastore.Allocate",
  "Datastore.Modify",
  "Datastore.Read",
  "Datastore.Verify",
  "Datastore.Backup",
  "Datastore.Prune",
  "Permissions.Modify",
  "Remote.Audit",
  "Remote.Modify",
  "Remote.Read",
  "Tape.Audit",
  "Tape.Modify",
  "Tape.Write",
  "Tape.Read",
] as const;

export type Privilege = (typeof PRIVILEGES)[number];

export function isPrivilege(s: string): s is Privilege {
  return (PRIVILEGES as readonly string[]).includes(s);
}
