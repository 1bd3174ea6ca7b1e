/**
 * Embedded mode (`run all --data-dir D`): the first start creates the datastore `local` at
 * config.defaultDatastore.path and registers it, so a new user can back up at once. Later
 * starts find it registered and do nothing. A directory that already holds an IBS datastore
 * (a data dir copied from elsewhere, a state.db deleted) is adopted instead of refused.
 *
 * Roles started as separate processes on the same data dir may run this at the same moment:
 * the work happens inside one BEGIN IMMEDIATE transaction of the state database, so the
 * second process waits and then finds the store registered.
 */
import { join } from "node:path";
import type { NodeConfig } from "../../config/load.ts";
import type { StateDb } from "../../state/db.ts";
import { CONFIG_KEY } from "../datastore-config.ts";
import { existsSync } from "node:fs";
import { createDatastore } from "./create.ts";
import { findDatastore } from "./registry.ts";

export interface DefaultDatastore {
  name: string;
  path: string;
  /** True on the start that made it. */
  created: boolean;
}

export async function ensureDefaultDatastore(config: NodeConfig, db: StateDb): Promise<DefaultDatastore | null> {
  const wanted = config.defaultDatastore;
  if (!wanted) return null;
  const sqlite = db.$client;
  sqlite.exec("BEGIN IMMEDIATE");
  try {
    const existing = findDatastore(db, wanted.name);
    let result: DefaultDatastore;
    if (existing) {
      result = { name: existing.name, path: existing.path, created: false };
    } else {
      const reuse = existsSync(join(wanted.path, CONFIG_KEY));
      const made = await createDatastore(db, { name: wanted.name, path: wanted.path, comment: "default datastore of the embedded mode", reuse });
      result = { name: made.datastore.name, path: made.datastore.path, created: made.created };
    }
    sqlite.exec("COMMIT");
    return result;
  } catch (err) {
    sqlite.exec("ROLLBACK");
    throw err;
  }
}
