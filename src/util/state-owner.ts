/**
 * Admin commands run as root on a packaged node continue as the owner of its state directory
 * (the service user). Everything they create (a datastore's folders, the audit log, the state
 * database's journal files) must stay writable by the services, which run as that user: as
 * root they left files behind that the next backup or GC could not write. An embedded node
 * whose data dir belongs to root, or a command run as the owner already, changes nothing.
 */
import { statSync } from "node:fs";

/** Switches this process to the owner of `stateDir` when it runs as root and the folder is someone else's. */
export function continueAsStateOwner(stateDir: string): void {
  if (process.getuid?.() !== 0) return;
  let owner: { uid: number; gid: number };
  try {
    owner = statSync(stateDir);
  } catch {
    return; // not created yet: whoever creates it owns it
  }
  if (owner.uid === 0) return;
  // Groups first: after setuid we could not change them any more.
  process.setgroups!([owner.gid]);
  process.setgid!(owner.gid);
  process.setuid!(owner.uid);
}
