/**
 * `datastore create NAME --backend s3 --s3-endpoint E --bucket B [--prefix P] --cache-dir DIR`:
 *
 *   1. the name, the local directory and the bucket location are checked against the registry
 *      (no other store on the same or a nesting prefix of the same bucket);
 *   2. probeS3 checks endpoint, credentials, bucket, that the prefix is free, and a
 *      write/read/delete round trip; any failure stops here, naming its cause;
 *   3. the local directory (the "cache dir", which is the datastore's path) gets `.ibs/`
 *      (datastore.json with a new id, the catalog, the locks, the chunk cache);
 *   4. the marker `<prefix>/.ibs/in-use.json` claims the prefix for that id (conditional create:
 *      of two concurrent creates one fails);
 *   5. the store is registered. A failure after step 3 undoes steps 3 and 4.
 *
 * The prefix defaults to the datastore name, so several stores can share one bucket.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { hostname } from "node:os";
import type { StateDb } from "../../state/db.ts";
import { validateBucketName, validateBucketPrefix } from "../../s3/endpoint-config.ts";
import { loadEndpointConfig } from "../../s3/endpoints.ts";
import { S3_MARKER_KEY, writeS3Marker } from "../../s3/marker.ts";
import { probeS3, type S3ProbeReport } from "../../s3/probe.ts";
import { errorMessage } from "../../util/errors.ts";
import { DEFAULT_S3_CACHE_SIZE, openS3Backend, type S3Backend } from "../backends/s3.ts";
import { newDatastoreConfig, writeDatastoreConfig } from "../datastore-config.ts";
import { Datastore } from "../datastore.ts";
import { conflict, DatastoreAdminError, invalid } from "./errors.ts";
import { insertDatastore, listDatastores, type RegisteredDatastore } from "./registry.ts";
import { s3CacheDir } from "./s3-backend.ts";

export interface S3CreateInput {
  endpoint: string;
  bucket: string;
  /** Default: the datastore name. '' puts the store at the bucket root. */
  prefix?: string;
  /** Chunk cache budget in bytes (default 1 GiB, 0: no cache). */
  cacheSize?: number;
  /** The node config dir (where the endpoint's secret file is). */
  configDir: string;
  /** The node name written into the marker (default the host name). */
  host?: string;
}

/** `checked`: name, normalized path and comment, already validated against the registry by createDatastore. */
export async function createS3Datastore(
  db: StateDb,
  checked: { name: string; path: string; comment: string | null },
  input: S3CreateInput,
): Promise<{ datastore: RegisteredDatastore; probe: S3ProbeReport }> {
  const { name, path, comment } = checked;
  const bucket = validateBucketName(input.bucket);
  const prefix = validateBucketPrefix(input.prefix ?? name);
  const cacheSize = input.cacheSize ?? DEFAULT_S3_CACHE_SIZE;
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) throw invalid(`cache size ${cacheSize} is not a whole number of bytes`);
  checkBucketLocation(db, input.endpoint, bucket, prefix);
  checkEmptyDirectory(path);
  const endpoint = loadEndpointConfig(db, input.configDir, input.endpoint);
  const where = `s3 ${endpoint.name}:${bucket}${prefix ? `/${prefix}` : ""}`;

  const probe = await probeS3(endpoint, { bucket, prefix });
  if (!probe.ok) throw probeFailure(`cannot create datastore ${name} on ${where}`, probe);

  const rootExisted = existsSync(path);
  const config = newDatastoreConfig();
  let backend: S3Backend | null = null;
  let marked = false;
  const undo = async () => {
    try {
      if (marked && backend) await backend.delete([S3_MARKER_KEY]);
    } catch {
      // best effort: the error that made us undo is the one to report
    }
    await backend?.close().catch(() => {});
    backend = null;
    try {
      if (rootExisted) rmSync(`${path}/.ibs`, { recursive: true, force: true });
      else rmSync(path, { recursive: true, force: true });
    } catch {
      // as above
    }
  };
  try {
    mkdirSync(`${path}/.ibs/locks`, { recursive: true });
    await writeDatastoreConfig(path, config);
    backend = await openS3Backend(endpoint, bucket, prefix, { cacheDir: s3CacheDir(path), cacheSize });
    await writeS3Marker(backend, { id: config.id, name, host: input.host ?? hostname() });
    marked = true;
    await Datastore.initializeEmpty(path, { name, backend }); // a free prefix: nothing to list
  } catch (err) {
    await undo();
    if (err instanceof DatastoreAdminError) throw err;
    throw new DatastoreAdminError(`cannot create datastore ${name} on ${where}: ${errorMessage(err)}`, 500, "s3_error", `check the store with: ironcore-backup s3 endpoint probe ${endpoint.name} --bucket ${bucket}`);
  }

  try {
    const datastore = insertDatastore(db, { name, path, backend: "s3", storeId: config.id, comment, s3: { endpoint: endpoint.name, bucket, prefix, cacheSize, configDir: input.configDir } });
    await backend!.close();
    return { datastore, probe };
  } catch (err) {
    await undo();
    if (/UNIQUE|constraint/i.test(errorMessage(err))) {
      throw conflict(`datastore '${name}', path ${path} or ${where} was registered by someone else meanwhile`, "see: ironcore-backup datastore list");
    }
    throw err;
  }
}

/** One line naming every failed check and its message (the probe's FAIL lines, joined). */
export function probeFailure(what: string, probe: S3ProbeReport): DatastoreAdminError {
  const failed = probe.checks.filter((c) => c.status === "fail");
  const status = failed.some((c) => c.cause === "prefix-in-use" || c.cause === "wrong-datastore" || c.cause === "not-a-datastore") ? 409 : 503;
  return new DatastoreAdminError(
    `${what}: ${failed.map((c) => `${c.check}: ${c.message}${c.cause ? ` (${c.cause})` : ""}`).join("; ")}`,
    status,
    status === 409 ? "conflict" : "s3_unavailable",
    `see every check with: ironcore-backup s3 endpoint probe ${probe.endpoint} --bucket ${probe.bucket}${probe.prefix ? ` --prefix ${probe.prefix}` : ""}`,
  );
}

/** Two stores on one bucket must not share or nest prefixes (one's listing and GC would walk into the other's objects). */
function checkBucketLocation(db: StateDb, endpoint: string, bucket: string, prefix: string): void {
  for (const other of listDatastores(db)) {
    const o = other.s3;
    if (!o || o.endpoint !== endpoint || o.bucket !== bucket) continue;
    const nests = o.prefix === prefix || o.prefix === "" || prefix === "" || o.prefix.startsWith(prefix + "/") || prefix.startsWith(o.prefix + "/");
    if (nests) {
      throw conflict(
        `prefix '${prefix}' of bucket ${bucket} on endpoint ${endpoint} ${o.prefix === prefix ? "is" : "nests with"} the prefix '${o.prefix}' of datastore '${other.name}'`,
        "choose another --prefix (the default is the datastore name)",
      );
    }
  }
}

function checkEmptyDirectory(path: string): void {
  if (!existsSync(path)) return;
  if (!statSync(path).isDirectory()) throw invalid(`${path} is not a directory`);
  const entries = readdirSync(path).filter((e) => e !== "lost+found");
  if (entries.length > 0) throw invalid(`cannot use ${path} as the cache dir of a new S3 datastore: the directory is not empty (holds ${entries.slice(0, 3).join(", ")})`, "choose an empty or missing directory");
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kib: 1024, kb: 1000, m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2, g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3, t: 1024 ** 4, tib: 1024 ** 4, tb: 1000 ** 4 };

/** `64GiB`, `500M`, `0` (no cache) into bytes. */
export function parseCacheSize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw invalid(`--cache-size '${value}' is not a size`, "examples: 64GiB, 500MiB, 0 (no cache)");
  return Math.floor(Number(m[1]) * unit);
}
