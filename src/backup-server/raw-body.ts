/**
 * Raw request bodies (chunks, indexes, blobs, manifests), read with a size cap whether or not
 * the client sent Content-Length, and raw answers. JSON routes read their bodies in the router;
 * these routes declare no body schema and read it here.
 */
import { ENCRYPTED_HEADER_SIZE } from "../datastore/blob.ts";
import { DEFAULT_MAX_CHUNK_SIZE } from "../datastore/chunk-store.ts";
import { readCapped } from "../api/read-capped.ts";
import { SessionError } from "./errors.ts";

/** The largest encoded chunk: the store's chunk limit plus the encrypted blob header. */
export const MAX_CHUNK_UPLOAD_BYTES = DEFAULT_MAX_CHUNK_SIZE + ENCRYPTED_HEADER_SIZE;
/** Bun.serve in the api role caps request bodies at 64 MiB too. */
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;
export const MAX_BLOB_BYTES = 64 * 1024 * 1024;

export async function readRawBody(req: Request, limit: number, what: string): Promise<Uint8Array> {
  const tooLarge = () => new SessionError(`${what}: request body is larger than ${limit} bytes`, 413, "too_large");
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw tooLarge();
  if (!req.body) return new Uint8Array(0);
  if (declared !== null && /^\d+$/.test(declared)) {
    // The length is known and within the cap: let the runtime read the body into one buffer
    // (the streamed read collects 64 KiB parts and copies them together: for 4 MiB
    // chunks a second copy of every upload).
    const bytes = new Uint8Array(await req.arrayBuffer());
    if (bytes.byteLength > limit) throw tooLarge();
    return bytes;
  }
  return readCapped(req.body, limit, tooLarge);
}

export function octets(bytes: Uint8Array): Response {
  return new Response(bytes, { headers: { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength) } });
}
