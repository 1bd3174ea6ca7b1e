/**
 * The node's datastore registry (table `datastores`, migration 0004): which name means which
 * directory. Reads and writes here touch only the state database, never the datastore.
 */
import { asc, eq } from "drizzle-orm";
import type { StateDb } from "../../state/db.ts";
import { datastores, type DatastoreRow } from "../../state/schema/index.ts";
import { notFound } from "./errors.ts";

export interface RegisteredDatastore {
  name: string;
  path: string;
  backend: "local";
  /** The id in `<path>/.ibs/datastore.json` when it was registered. */
  storeId: string;
  comment: string | null;
  /** ISO 8601 time of registration. */
  created: string;
}

function toRegistered(row: DatastoreRow): RegisteredDatastore {
  return { name: row.name, path: row.path, backend: row.backend, storeId: row.storeId, comment: row.comment, created: new Date(row.created).toISOString() };
}

export function listDatastores(db: StateDb): RegisteredDatastore[] {
  return db.select().from(datastores).orderBy(asc(datastores.name)).all().map(toRegistered);
}

export function findDatastore(db: StateDb, name: string): RegisteredDatastore | undefined {
  const row = db.select().from(datastores).where(eq(datastores.name, name)).get();
  return row ? toRegistered(row) : undefined;
}

export function requireDatastore(db: StateDb, name: string): RegisteredDatastore {
  const found = findDatastore(db, name);
  if (!found) throw notFound(`datastore '${name}' is not registered on this node`, "see: ironcore-backup datastore list");
  return found;
}

export function insertDatastore(db: StateDb, entry: Omit<RegisteredDatastore, "created">, created = Date.now()): RegisteredDatastore {
  const row = db
    .insert(datastores)
    .values({ name: entry.name, path: entry.path, backend: entry.backend, storeId: entry.storeId, comment: entry.comment, created })
    .returning()
    .get();
  return toRegistered(row);
}

export function deleteDatastore(db: StateDb, name: string): void {
  db.delete(datastores).where(eq(datastores.name, name)).run();
}

export function updateDatastoreComment(db: StateDb, name: string, comment: string | null): RegisteredDatastore {
  requireDatastore(db, name);
  db.update(datastores).set({ comment }).where(eq(datastores.name, name)).run();
  return requireDatastore(db, name);
}
