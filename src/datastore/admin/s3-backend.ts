/**
 * The S3 backend of a registered S3 datastore, opened from the registry alone: the endpoint's
 * settings from the state database the entry was read from, its secret from the config dir
 * recorded at registration, the chunk cache and request counters in `<path>/.ibs/s3-cache/`.
 *
 * One backend per store and process, shared by every Datastore opened on it (each backup
 * session opens its own Datastore): one connection pool, one conditional-create detection,
 * one counter flusher. It stays open for the life of the process; counters are flushed every
 * few seconds and at exit. Changed endpoint settings (or a store registered anew under the same
 * name) make a new key, so the next open uses a fresh backend.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { S3Backend } from "../backends/s3.ts";
import type { S3EndpointConfig } from "../../s3/endpoint-config.ts";
import { loadEndpointConfig } from "../../s3/endpoints.ts";
import { openS3Backend } from "../backends/s3.ts";
import { unavailable } from "./errors.ts";
import { type RegisteredDatastore, registryDbOf, type S3Location } from "./registry.ts";

/** Where an S3 store keeps its chunk cache and request counters, below its local directory. */
export function s3CacheDir(path: string): string {
  return join(path, ".ibs", "s3-cache");
}

const open = new Map<string, Promise<S3Backend>>();

/** The endpoint settings (with the secret) of a registered S3 store. */
export function s3EndpointOf(entry: RegisteredDatastore): S3EndpointConfig {
  const s3 = requireS3(entry);
  const db = registryDbOf(entry);
  if (!db) throw new Error(`datastore ${entry.name}: registry entry not read from a state database; cannot reach its S3 endpoint settings`);
  return loadEndpointConfig(db, s3.configDir, s3.endpoint);
}

export function requireS3(entry: RegisteredDatastore): S3Location {
  if (!entry.s3) throw unavailable(`datastore ${entry.name}: registered with backend s3 but without its S3 location (bucket, endpoint)`, "remove it and create it again");
  return entry.s3;
}

export async function s3BackendOf(entry: RegisteredDatastore): Promise<S3Backend> {
  const s3 = requireS3(entry);
  const endpoint = s3EndpointOf(entry);
  const fingerprint = createHash("sha256")
    .update(JSON.stringify([entry.name, entry.storeId, entry.path, s3, endpoint, endpoint.secretAccessKey ?? null]))
    .digest("hex");
  let backend = open.get(fingerprint);
  if (!backend) {
    backend = openS3Backend(endpoint, s3.bucket, s3.prefix, { cacheDir: s3CacheDir(entry.path), cacheSize: s3.cacheSize });
    open.set(fingerprint, backend);
    backend.catch(() => open.delete(fingerprint)); // a failed open is tried again next time
  }
  return backend;
}
