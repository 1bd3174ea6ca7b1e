/** Helpers for the maintenance tests: session-style backups, ageing chunks, checking a whole store. */
import { expect } from "bun:test";
import { isIndexFilename } from "../../../src/datastore/chunk-index.ts";
import type { Datastore } from "../../../src/datastore/datastore.ts";
import type { GroupRef, Namespace, SnapshotRef } from "../../../src/datastore/snapshot-path.ts";

export { ageChunks, ct200, digestsOf, pieces, sessionBackup, type SessionInput } from "./session.ts";
export { backup, pseudoRandom, tempDir, vm100, withDatastore } from "../datastore/helpers.ts";

/** Every snapshot of every namespace: every file matches its manifest, every chunk decodes to its digest. */
export async function checkAllSnapshots(ds: Datastore): Promise<number> {
  let count = 0;
  const namespaces: Namespace[] = [[], ...(await ds.namespaces.list([], { recursive: true }))];
  for (const ns of namespaces) {
    for (const group of await ds.groups.list(ns)) {
      for (const listing of await ds.snapshots.list(group)) {
        const reader = await ds.snapshots.openReader(listing.ref);
        try {
          for (const file of reader.files) {
            await reader.readFile(file.filename);
            if (!isIndexFilename(file.filename)) continue;
            const index = await reader.openIndex(file.filename);
            for (const digest of index.uniqueDigests()) {
              const raw = await ds.chunks.getRaw(digest).catch((err) => {
                throw new Error(`${listing.ref.type}/${listing.ref.id}/${listing.ref.time}: ${(err as Error).message}`);
              });
              expect(raw.length).toBeGreaterThan(0);
              if (file.crypt_mode === "none") await ds.readChunk(digest);
            }
          }
        } finally {
          reader.release();
        }
        count++;
      }
    }
  }
  return count;
}

export function snap(group: GroupRef, time: string): SnapshotRef {
  return { ...group, time };
}

export const never = new AbortController().signal;

export async function rejection(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => null,
    (x) => x,
  );
  expect(e).toBeInstanceOf(Error);
  return e as Error;
}
