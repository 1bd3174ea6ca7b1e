/** Sending a stored chunk to a client: a damaged or missing copy is the server's fault, named as such. */
import { NotFoundError } from "../datastore/backends/backend.ts";
import { BlobError } from "../datastore/blob.ts";
import { chunkName } from "../datastore/chunk-store.ts";
import type { Datastore } from "../datastore/datastore.ts";
import { SessionError } from "./errors.ts";

export async function readStoredChunk(store: Datastore, digest: string): Promise<Uint8Array> {
  try {
    return await store.readRawChunk(digest); // header and CRC checked: never sends damaged bytes
  } catch (err) {
    const hint = `run ironcore-backup verify start ${store.name}; a later backup that has the data uploads the chunk again`;
    if (err instanceof NotFoundError) {
      throw new SessionError(`${chunkName(digest)} is referenced by the snapshot but missing from datastore ${store.name}`, 500, "chunk_missing", hint);
    }
    if (err instanceof BlobError) throw new SessionError(`datastore ${store.name}: stored ${err.message}`, 500, "chunk_corrupt", hint);
    throw err;
  }
}
