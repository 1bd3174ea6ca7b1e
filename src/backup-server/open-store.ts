/**
 * Opens a registered datastore by name for one session or request. Each session has its own
 * Datastore (its own catalog connection), closed when the session ends, so sessions share
 * nothing in memory; the registry check refuses a store whose disk is not mounted.
 */
import { openRegisteredStore } from "../datastore/admin/open.ts";
import { requireDatastore } from "../datastore/admin/registry.ts";
import type { Datastore } from "../datastore/datastore.ts";
import type { StateDb } from "../state/db.ts";

export async function openStore(db: StateDb, name: string): Promise<Datastore> {
  // No crash recovery here: begin() removes a dead writer's leftovers in the group it locks,
  // and recovery of the whole store is the business of the roles that maintain it.
  return openRegisteredStore(requireDatastore(db, name), { recover: false });
}

/** Opens, runs `fn`, closes whatever happens. */
export async function withStore<T>(db: StateDb, name: string, fn: (store: Datastore) => Promise<T>): Promise<T> {
  const store = await openStore(db, name);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}
