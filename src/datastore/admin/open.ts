/**
 * Opening a registered datastore. Before the library opens it, the directory is checked
 * against the registry: a missing directory or a missing `.ibs/datastore.json` usually means
 * the disk is not mounted (and writing would fill the mount point on the root disk), and a
 * different id means another disk is mounted there. Both are refused, naming the cause.
 * For an S3 store the directory is its local side (`.ibs/`, cache): the same checks apply.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ui } from "../../log/logger.ts";
import { errorMessage } from "../../util/errors.ts";
import { CONFIG_KEY, type DatastoreConfig, parseDatastoreConfig } from "../datastore-config.ts";
import { Datastore } from "../datastore.ts";
import { unavailable } from "./errors.ts";
import type { RegisteredDatastore } from "./registry.ts";
import { s3BackendOf } from "./s3-backend.ts";

/** Reads `<dir>/.ibs/datastore.json`; null when the file does not exist. */
export function readStoreConfig(dir: string): DatastoreConfig | null {
  const path = join(dir, CONFIG_KEY);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null; // nothing there, or `dir` is a file
    throw unavailable(`datastore config ${path}: cannot read (${errorMessage(err)})`, "check permissions and that the disk is mounted: ironcore-backup datastore probe <name>");
  }
  return parseDatastoreConfig(text, path);
}

/** The datastore's config, checked to be the registered store; throws `unavailable` otherwise. */
export function checkRegisteredStore(entry: RegisteredDatastore): DatastoreConfig {
  const probeHint = `diagnose with: ironcore-backup datastore probe ${entry.name}`;
  if (!existsSync(entry.path)) {
    throw unavailable(`datastore ${entry.name}: path ${entry.path} does not exist (not mounted, or removed)`, probeHint);
  }
  const config = readStoreConfig(entry.path);
  if (!config) {
    throw unavailable(`datastore ${entry.name}: ${entry.path} holds no ${CONFIG_KEY} (the disk is probably not mounted)`, probeHint);
  }
  if (config.id !== entry.storeId) {
    throw unavailable(
      `datastore ${entry.name}: ${entry.path} holds a different datastore (id ${config.id}, registered ${entry.storeId})`,
      "mount the right disk there, or adopt this one under another name: datastore remove, then datastore create --reuse",
    );
  }
  return config;
}

export interface OpenOptions {
  /** Run the library's crash recovery (default false: admin commands only look, or change the mode). */
  recover?: boolean;
  /**
   * Only `.ibs/` is used (mode changes): an S3 store is opened without its S3 backend, so its
   * mode can be set (offline, say) while the endpoint is unreachable or its secret is missing.
   * The store's content must not be touched then.
   */
  localOnly?: boolean;
  /**
   * Rebuild a lost catalog from the files before anything reads it (default true, not with
   * localOnly): a catalog deleted with its disk's `.ibs/`, or an S3 store's local directory
   * set up anew, would otherwise list an empty store. `datastore reindex` turns it off to
   * report what it rebuilt itself.
   */
  rebuildCatalog?: boolean;
}

/** Opens the store; an S3 store comes with its S3 backend (shared per process: s3-backend.ts), so every caller works unchanged. */
export async function openRegisteredStore(entry: RegisteredDatastore, opts: OpenOptions = {}): Promise<Datastore> {
  checkRegisteredStore(entry);
  const backend = entry.backend === "s3" && !opts.localOnly ? await s3BackendOf(entry) : undefined;
  if (opts.localOnly && opts.recover) throw new Error("openRegisteredStore: recovery needs the store's content; localOnly opens only .ibs/");
  const store = await Datastore.open(entry.path, { name: entry.name, recover: opts.recover ?? false, backend, rebuildLostCatalog: !opts.localOnly && opts.rebuildCatalog !== false, keepSpaceReserve: !opts.localOnly });
  const r = store.rebuiltCatalog;
  if (r) {
    ui.warn(
      `datastore ${entry.name}: its catalog did not describe the files (lost, or from an older version) and was rebuilt from them: ` +
        `${r.snapshots} snapshots in ${r.groups} groups, ${r.chunks} chunks${r.warnings.length ? `; ${r.warnings.length} warnings: ${r.warnings.slice(0, 3).join("; ")}` : ""}`,
    );
  }
  return store;
}

/** Opens, runs `fn`, and closes the catalog again whatever happens. */
export async function withRegisteredStore<T>(entry: RegisteredDatastore, fn: (store: Datastore) => T | Promise<T>, opts: OpenOptions = {}): Promise<T> {
  const store = await openRegisteredStore(entry, opts);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}
