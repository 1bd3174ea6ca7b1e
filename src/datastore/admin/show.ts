/**
 * `datastore list` and `datastore show`: the registry entry with the datastore's current
 * mode and whether its directory is usable. Never throws for an unavailable store: listing
 * must work exactly when something is wrong, so the problem is reported in `status`.
 */
import type { StateDb } from "../../state/db.ts";
import { errorMessage } from "../../util/errors.ts";
import type { DatastoreMode } from "../datastore-config.ts";
import { checkRegisteredStore } from "./open.ts";
import { listDatastores, type RegisteredDatastore, requireDatastore } from "./registry.ts";

export interface DatastoreInfo extends RegisteredDatastore {
  /** "available", or why the directory cannot be used ("path … does not exist (not mounted…)"). */
  status: string;
  available: boolean;
  mode: DatastoreMode | null;
  modeReason: string | null;
  modeSince: string | null;
  formatVersion: number | null;
}

export function describeDatastore(entry: RegisteredDatastore): DatastoreInfo {
  try {
    const c = checkRegisteredStore(entry);
    return { ...entry, status: "available", available: true, mode: c.mode, modeReason: c.mode_reason ?? null, modeSince: c.mode_since ?? null, formatVersion: c.format_version };
  } catch (err) {
    return { ...entry, status: errorMessage(err), available: false, mode: null, modeReason: null, modeSince: null, formatVersion: null };
  }
}

export function listDatastoreInfo(db: StateDb): DatastoreInfo[] {
  return listDatastores(db).map(describeDatastore);
}

export function showDatastore(db: StateDb, name: string): DatastoreInfo {
  return describeDatastore(requireDatastore(db, name));
}
