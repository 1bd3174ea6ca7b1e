/**
 * Which snapshots reference a set of (bad) chunks, across the whole datastore and not only
 * the part a verify job looked at: a missing or corrupt chunk fails every snapshot that
 * needs it. One pass over all indexes, run only when a job found bad chunks.
 */
import { isIndexFilename, parseChunkIndex } from "../datastore/chunk-index.ts";
import type { Datastore } from "../datastore/datastore.ts";
import type { SnapshotRef } from "../datastore/snapshot-path.ts";
import { walkSnapshots } from "./snapshot-walk.ts";

export interface Reference {
  ref: SnapshotRef;
  key: string;
}

/** Maps each digest (hex) to the committed snapshots whose indexes reference it. */
export async function findReferences(ds: Datastore, digests: Iterable<string>, signal: AbortSignal): Promise<Map<string, Reference[]>> {
  const wanted = new Map<string, string>(); // 32 raw bytes as latin1 -> hex
  for (const hex of digests) wanted.set(Buffer.from(hex, "hex").toString("latin1"), hex);
  const found = new Map<string, Reference[]>();
  if (wanted.size === 0) return found;
  for await (const dir of walkSnapshots(ds.backend)) {
    if (signal.aborted) break;
    if (!dir.complete) continue;
    const hits = new Set<string>();
    for (const filename of dir.files.filter(isIndexFilename)) {
      let index;
      try {
        index = parseChunkIndex(filename, await ds.backend.get(`${dir.key}/${filename}`), `${dir.key}/${filename}`);
      } catch {
        continue; // unreadable indexes are reported by verifying their snapshot
      }
      for (let i = 0; i < index.chunkCount; i++) {
        const d = index.digestBytes(i);
        const hex = wanted.get(Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("latin1"));
        if (hex) hits.add(hex);
      }
    }
    for (const hex of hits) {
      let list = found.get(hex);
      if (!list) found.set(hex, (list = []));
      list.push({ ref: dir.ref, key: dir.key });
    }
  }
  return found;
}
