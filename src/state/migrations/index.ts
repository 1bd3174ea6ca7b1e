/**
 * Every schema change of the node state database, in order. A migration is never edited once
 * released: add a new one. The database's `PRAGMA user_version` is the number applied.
 * Numbers are reserved per module to keep parallel work apart: see docs/architecture.md.
 */
import m0001 from "./0001_foundation.ts";
import m0002 from "./0002_access.ts";
import m0003 from "./0003_tasks.ts";
import m0004 from "./0004_datastores.ts";
import m0005 from "./0005_keys.ts";
import m0006 from "./0006_s3.ts";
import m0007 from "./0007_notifications.ts";
import m0008 from "./0008_datastore_s3.ts";

export interface Migration {
  name: string;
  sql: string;
}

export const migrations: Migration[] = [m0001, m0002, m0003, m0004, m0005, m0006, m0007, m0008];
