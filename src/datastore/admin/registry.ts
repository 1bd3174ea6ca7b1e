/**
 * The node's datastore registry (table `datastores`, migration 0004; S3 location in
 * `datastore_s3`, migration 0008): which name means which directory, and for an S3 store which
 * endpoint, bucket and prefix. Reads and writes here touch only the state database, never the
 * datastore.
 */
import { asc, eq } from "drizzle-orm";
import type { StateDb } from "../../state/db.ts";
import { datastoreS3, type DatastoreS3Row, datastores, type DatastoreRow } from "../../state/schema/index.ts";
import { notFound } from "./errors.ts";

export type DatastoreBackendKind = "local" | "s3";

/** Where an S3 datastore's content is. Its `path` is the local directory (`.ibs/`, chunk cache). */
export interface S3Location {
  endpoint: string;
  bucket: string;
  /** Key prefix in the bucket ('' for the bucket root). */
  prefix: string;
  /** Chunk cache budget in bytes (0: no cache). */
  cacheSize: number;
  /** The node config dir holding the endpoint's secret file (s3-secrets/). */
  configDir: string;
}

export interface RegisteredDatastore {
  name: string;
  /** The datastore directory; for an S3 store the local one (`.ibs/` and the chunk cache). */
  path: string;
  backend: DatastoreBackendKind;
  /** The id in `<path>/.ibs/datastore.json` when it was registered. */
  storeId: string;
  comment: string | null;
  /** ISO 8601 time of registration. */
  created: string;
  /** Set for backend 's3'. */
  s3?: S3Location;
}

/**
 * The state database an entry was read from, for opening its S3 backend (the endpoint's
 * settings are there). Kept beside the entry, not in it: entries are printed as JSON.
 */
const sourceDb = new WeakMap<RegisteredDatastore, StateDb>();

export function registryDbOf(entry: RegisteredDatastore): StateDb | undefined {
  return sourceDb.get(entry);
}

function toRegistered(db: StateDb, row: DatastoreRow, s3: DatastoreS3Row | undefined): RegisteredDatastore {
  const entry: RegisteredDatastore = {
    name: row.name,
    path: row.path,
    backend: (row.backend as string) === "s3" ? "s3" : "local",
    storeId: row.storeId,
    comment: row.comment,
    created: new Date(row.created).toISOString(),
  };
  if (s3) entry.s3 = { endpoint: s3.endpoint, bucket: s3.bucket, prefix: s3.prefix, cacheSize: s3.cacheSize, configDir: s3.configDir };
  sourceDb.set(entry, db);
  return entry;
}

export function listDatastores(db: StateDb): RegisteredDatastore[] {
  const s3 = new Map(db.select().from(datastoreS3).all().map((r) => [r.name, r]));
  return db
    .select()
    .from(datastores)
    .orderBy(asc(datastores.name))
    .all()
    .map((row) => toRegistered(db, row, s3.get(row.name)));
}

export function findDatastore(db: StateDb, name: string): RegisteredDatastore | undefined {
  const row = db.select().from(datastores).where(eq(datastores.name, name)).get();
  if (!row) return undefined;
  return toRegistered(db, row, db.select().from(datastoreS3).where(eq(datastoreS3.name, name)).get());
}

export function requireDatastore(db: StateDb, name: string): RegisteredDatastore {
  const found = findDatastore(db, name);
  if (!found) throw notFound(`datastore '${name}' is not registered on this node`, "see: ironcore-backup datastore list");
  return found;
}

/** Names of the datastores on an S3 endpoint (`s3 endpoint remove` is refused while there are any). */
export function datastoresOnEndpoint(db: StateDb, endpoint: string): string[] {
  return db
    .select({ name: datastoreS3.name })
    .from(datastoreS3)
    .where(eq(datastoreS3.endpoint, endpoint))
    .all()
    .map((r) => r.name);
}

export function insertDatastore(db: StateDb, entry: Omit<RegisteredDatastore, "created">, created = Date.now()): RegisteredDatastore {
  // No transaction of our own: callers may already hold one (ensureDefaultDatastore), and
  // SQLite does not nest them. The S3 row is undone by hand instead.
  const row = db
    .insert(datastores)
    // The drizzle column type lists 'local' only (schema/datastores.ts predates S3); SQLite stores any text.
    .values({ name: entry.name, path: entry.path, backend: entry.backend as "local", storeId: entry.storeId, comment: entry.comment, created })
    .returning()
    .get();
  let s3: DatastoreS3Row | undefined;
  if (entry.backend === "s3") {
    try {
      if (!entry.s3) throw new Error(`datastore ${entry.name}: backend s3 without an S3 location`);
      s3 = db.insert(datastoreS3).values({ name: entry.name, ...entry.s3 }).returning().get();
    } catch (err) {
      db.delete(datastores).where(eq(datastores.name, entry.name)).run();
      throw err;
    }
  }
  return toRegistered(db, row, s3);
}

export function deleteDatastore(db: StateDb, name: string): void {
  // datastore_s3 goes with it (ON DELETE CASCADE).
  db.delete(datastores).where(eq(datastores.name, name)).run();
}

export function updateDatastoreComment(db: StateDb, name: string, comment: string | null): RegisteredDatastore {
  requireDatastore(db, name);
  db.update(datastores).set({ comment }).where(eq(datastores.name, name)).run();
  return requireDatastore(db, name);
}
