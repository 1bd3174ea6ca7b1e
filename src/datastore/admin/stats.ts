/**
 * `datastore stats`: the filesystem under the store (what `df -h` and `df -i` show for its
 * mount) and the content from the catalog: chunk count and stored bytes, the logical bytes
 * the snapshots reference, the deduplication factor, snapshot/group/namespace counts, verify
 * states, and the last GC and verify results.
 *
 * The filesystem part never needs the catalog, so stats still work when the catalog cannot
 * be opened (a read-only or full filesystem); `contentError` then says why content is missing.
 */
import { constants, Database } from "bun:sqlite";
import { existsSync, statfsSync } from "node:fs";
import { join } from "node:path";
import type { StateDb } from "../../state/db.ts";
import { errorMessage } from "../../util/errors.ts";
import { Catalog } from "../catalog/catalog.ts";
import type { DatastoreMode } from "../datastore-config.ts";
import { Datastore } from "../datastore.ts";
import { RESERVE_BYTES, type ReserveState, SpaceReserve } from "../space-reserve.ts";
import { DatastoreAdminError } from "./errors.ts";
import { describeFsError } from "./fs-errors.ts";
import { lastMaintenanceTask, type MaintenanceResult, newer, readMaintenanceResult } from "./maintenance-status.ts";
import { mountOf } from "./mounts.ts";
import { physicalPath } from "./names.ts";
import { checkRegisteredStore } from "./open.ts";
import { requireDatastore } from "./registry.ts";
import { type S3StoreStats, s3StoreStats } from "./s3-stats.ts";

export interface FilesystemStats {
  mountPoint: string | null;
  fsType: string | null;
  source: string | null;
  bytesTotal: number;
  /** As df: total minus free (blocks reserved for root count as used). */
  bytesUsed: number;
  /** As df: what an unprivileged writer can still use. */
  bytesAvailable: number;
  inodesTotal: number;
  inodesUsed: number;
  inodesFree: number;
}

export interface ContentStats {
  chunks: number;
  /** Bytes of all stored chunks (compressed, encrypted: what the disk holds). */
  storedBytes: number;
  /** Bytes the snapshots describe before dedup and compression (image and stream sizes). */
  logicalBytes: number;
  /** logicalBytes / storedBytes: dedup and compression together; 0 when nothing is stored. */
  dedupFactor: number;
  snapshots: number;
  groups: number;
  namespaces: number;
  badChunks: number;
  verification: { ok: number; failed: number; never: number };
}

export interface DatastoreStatsReport {
  name: string;
  path: string;
  mode: DatastoreMode;
  modeReason: string | null;
  filesystem: FilesystemStats;
  content: ContentStats | null;
  /** Why content is null (the catalog could not be read). */
  contentError: string | null;
  /** Set when content was read in the degraded way (see readCatalogImmutable). */
  contentNote: string | null;
  lastGc: MaintenanceResult | null;
  lastVerify: MaintenanceResult | null;
  /** S3 stores: request counters and cache use ("filesystem" is then the local directory's). */
  s3?: S3StoreStats;
  /** The cleanup reserve (space-reserve.ts): held, given back (or not yet taken), or not kept (a filesystem too small for one). */
  spaceReserve: { state: ReserveState; bytes: number };
}

export function filesystemStats(path: string): FilesystemStats {
  let s;
  try {
    s = statfsSync(path);
  } catch (err) {
    throw new DatastoreAdminError(`cannot read filesystem figures of ${path}: ${describeFsError(err).text}`, 503, "datastore_unavailable");
  }
  const block = (s as { frsize?: number }).frsize || s.bsize;
  const mount = mountOf(physicalPath(path));
  return {
    mountPoint: mount?.mountPoint ?? null,
    fsType: mount?.fsType ?? null,
    source: mount?.source ?? null,
    bytesTotal: s.blocks * block,
    bytesUsed: (s.blocks - s.bfree) * block,
    bytesAvailable: s.bavail * block,
    inodesTotal: s.files,
    inodesUsed: s.files - s.ffree,
    inodesFree: s.ffree,
  };
}

export async function datastoreStats(db: StateDb, name: string): Promise<DatastoreStatsReport> {
  const entry = requireDatastore(db, name);
  const config = checkRegisteredStore(entry);
  const filesystem = filesystemStats(entry.path);
  let lastGc = lastMaintenanceTask(db, name, "gc");
  let lastVerify = lastMaintenanceTask(db, name, "verify");
  let content: ContentStats | null = null;
  let contentError: string | null = null;
  let contentNote: string | null = null;
  try {
    const store = await Datastore.open(entry.path, { name, recover: false });
    try {
      content = contentStats(store.catalog);
      if (!store.catalog.builtFromFiles()) {
        contentNote = `the catalog does not describe the datastore's files (lost, or from an older version): the figures may be missing content; it is rebuilt when a service next opens the store, or now with: ironcore-backup datastore reindex ${name}`;
      }
      lastGc = newer(lastGc, readMaintenanceResult(store.catalog, "gc"));
      lastVerify = newer(lastVerify, readMaintenanceResult(store.catalog, "verify"));
    } finally {
      store.close();
    }
  } catch (err) {
    // A full or read-only filesystem cannot hold the catalog's WAL index (-shm): read the
    // file as it is instead. That misses changes still in a WAL, which a full disk rarely has.
    const catalogPath = join(entry.path, ".ibs", "catalog.db");
    const fallback = readCatalogImmutable(catalogPath);
    if (fallback) {
      try {
        content = contentStats(fallback);
        lastGc = newer(lastGc, readMaintenanceResult(fallback, "gc"));
        lastVerify = newer(lastVerify, readMaintenanceResult(fallback, "verify"));
        contentNote = `catalog read without locking (${errorMessage(err)}): changes not yet checkpointed may be missing`;
      } catch (again) {
        contentError = `catalog ${catalogPath} cannot be read: ${errorMessage(again)}`;
      } finally {
        fallback.db.close();
      }
    } else {
      contentError = `catalog ${catalogPath} cannot be read: ${errorMessage(err)}`;
    }
  }
  const spaceReserve = { state: new SpaceReserve(entry.path).state, bytes: RESERVE_BYTES };
  const report: DatastoreStatsReport = { name, path: entry.path, mode: config.mode, modeReason: config.mode_reason ?? null, filesystem, content, contentError, contentNote, lastGc, lastVerify, spaceReserve };
  if (entry.backend === "s3") report.s3 = s3StoreStats(entry);
  return report;
}

function contentStats(catalog: Catalog): ContentStats {
  const c = catalog.stats();
  const verification = catalog.db
    .query(
      `SELECT coalesce(sum(verify_state = 'ok'), 0) AS ok, coalesce(sum(verify_state = 'failed'), 0) AS failed,
              coalesce(sum(verify_state IS NULL), 0) AS never FROM snapshots`,
    )
    .get() as ContentStats["verification"];
  return {
    chunks: c.chunks,
    storedBytes: c.chunkBytes,
    logicalBytes: c.logicalBytes,
    dedupFactor: c.chunkBytes > 0 ? c.logicalBytes / c.chunkBytes : 0,
    snapshots: c.snapshots,
    groups: c.groups,
    namespaces: c.namespaces,
    badChunks: c.badChunks,
    verification,
  };
}

/**
 * The catalog opened read-only with SQLite's `immutable` flag: no locks, no WAL index, so it
 * works on a full or read-only filesystem. The Catalog's query methods only use `db`, so a
 * Catalog object around this connection answers stats() and getMeta() as usual.
 */
function readCatalogImmutable(path: string): Catalog | null {
  if (!existsSync(path)) return null;
  try {
    const uri = `file:${path.split("/").map(encodeURIComponent).join("/")}?immutable=1`;
    const db = new Database(uri, constants.SQLITE_OPEN_READONLY | constants.SQLITE_OPEN_URI);
    return Object.assign(Object.create(Catalog.prototype) as Catalog, { db, path });
  } catch {
    return null;
  }
}
