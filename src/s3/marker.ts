/**
 * The marker object that says a bucket prefix belongs to one IBS datastore:
 * `<prefix>/.ibs/in-use.json`, holding the datastore's id (the id of its local
 * `.ibs/datastore.json`), its name, the host that writes it and when it was created.
 *
 * It is what lets `datastore probe` say "this bucket is ours", and what stops a second
 * datastore (or a second host) from being created on a prefix that already has one. It is
 * written with a conditional create, so two concurrent creates cannot both succeed.
 */
import type { Backend } from "../datastore/backends/backend.ts";
import { conflict } from "./errors.ts";

export const S3_MARKER_KEY = ".ibs/in-use.json";
export const S3_MARKER_FORMAT = "ironcore-backup s3 datastore";

export interface S3Marker {
  format: typeof S3_MARKER_FORMAT;
  datastore_id: string;
  name: string;
  /** The node that writes the datastore (single-writer-host rule, docs/formats.md). */
  host: string;
  created: string;
}

/** The marker, or null when the prefix has none. A marker that is not ours is an error naming the object. */
export async function readS3Marker(backend: Backend): Promise<S3Marker | null> {
  let bytes: Uint8Array;
  try {
    bytes = await backend.get(S3_MARKER_KEY);
  } catch (err) {
    if ((err as Error).name === "NotFoundError") return null;
    throw err;
  }
  let parsed: Partial<S3Marker>;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw conflict(`${backend.description}: ${S3_MARKER_KEY} is not JSON: the prefix holds something that is not an IBS datastore marker`);
  }
  if (parsed.format !== S3_MARKER_FORMAT || typeof parsed.datastore_id !== "string") {
    throw conflict(`${backend.description}: ${S3_MARKER_KEY} is not an IBS datastore marker (format ${JSON.stringify(parsed.format)})`);
  }
  return parsed as S3Marker;
}

/**
 * Claims the prefix for a datastore. Creating it again for the same id is fine (a retried
 * create); a marker of another datastore is refused, naming it.
 */
export async function writeS3Marker(backend: Backend, who: { id: string; name: string; host: string }, now = new Date()): Promise<S3Marker> {
  const marker: S3Marker = { format: S3_MARKER_FORMAT, datastore_id: who.id, name: who.name, host: who.host, created: now.toISOString() };
  const outcome = await backend.putIfAbsent(S3_MARKER_KEY, new TextEncoder().encode(JSON.stringify(marker, null, 2) + "\n"));
  if (outcome === "created") return marker;
  const existing = await readS3Marker(backend);
  if (existing && existing.datastore_id === who.id) return existing;
  throw conflict(
    `${backend.description} already holds datastore ${existing?.datastore_id ?? "?"} (name ${existing?.name ?? "?"}, host ${existing?.host ?? "?"}, created ${existing?.created ?? "?"})`,
    "use another bucket or prefix; a datastore on S3 is written by one host only",
  );
}
