/**
 * What the API does when the server's own files cannot be written for want of space: see
 * makeRoomForCleanup. Used by the router's error answer for every request but a backup's.
 */
import { listDatastores } from "../datastore/admin/registry.ts";
import { RESERVE_BYTES, SpaceReserve } from "../datastore/space-reserve.ts";
import { errorMessage } from "../util/errors.ts";
import type { ApiDeps } from "./app.ts";
import type { MappedError } from "./errors.ts";

/**
 * The server's own files (state database, logs) ran out of space. When they share a filesystem
 * with a datastore (the embedded `run all --data-dir D`), that datastore's cleanup reserve is
 * given back, so that the operator's next login, forget and GC can write (space-reserve.ts);
 * the answer says so. Backups stay refused until GC has made room for the reserve again.
 */
export function makeRoomForCleanup(deps: ApiDeps, m: MappedError): void {
  // Only errors of the server itself (507, or a 500: SQLite reports some failed writes of a
  // full disk as "disk I/O error"); releaseIfLow acts only when the filesystem is nearly full.
  // A datastore's own 507 names it and needs no help here.
  if (m.status < 500 || !m.internal) return;
  let freed: string[] = [];
  try {
    freed = listDatastores(deps.db)
      .filter((d) => new SpaceReserve(d.path).releaseIfLow())
      .map((d) => d.name);
  } catch (err) {
    deps.log.error("could not give back a datastore's space reserve", { err: errorMessage(err) });
  }
  if (freed.length === 0) return;
  deps.log.warn("filesystem full: gave back the cleanup reserve of datastores on it", { datastores: freed });
  const hint = `${RESERVE_BYTES / 2 ** 20} MiB set aside for cleanup on that filesystem was freed (datastore ${freed.join(", ")}): run the command again, forget or prune old snapshots, then ironcore-backup gc start ${freed[0]}`;
  m.body.error.details = { ...m.body.error.details, hint };
}
