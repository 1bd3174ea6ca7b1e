/** Session-style backups for tests and their child processes (no bun:test import here). */
import { encodeBlob, type BlobCipher } from "../../../src/datastore/blob.ts";
import type { Datastore } from "../../../src/datastore/datastore.ts";
import { chunkDigest } from "../../../src/datastore/digest.ts";
import { DynamicIndexWriter } from "../../../src/datastore/dynamic-index.ts";
import type { GroupRef } from "../../../src/datastore/snapshot-path.ts";
import { pseudoRandom } from "../datastore/helpers.ts";

export const ct200: GroupRef = { ns: [], type: "ct", id: "200" };

/** Chunk pieces from seeds: the same seed always gives the same chunk. */
export function pieces(seeds: number[], size = 1500): Uint8Array[] {
  return seeds.map((s) => pseudoRandom(size, s * 7919 + 13));
}

export function digestsOf(list: Uint8Array[], digestKey?: Uint8Array): string[] {
  return list.map((p) => chunkDigest(p, digestKey));
}

export interface SessionInput {
  group: GroupRef;
  time: string;
  pieces: Uint8Array[];
  cipher?: BlobCipher;
  digestKey?: Uint8Array;
}

/**
 * A backup as the protocol runs it: begin (the writer epoch is registered), ask which chunks
 * the store has, upload the others, write the index, commit.
 */
export async function sessionBackup(ds: Datastore, input: SessionInput): Promise<{ digests: string[]; uploaded: number }> {
  const writer = await ds.snapshots.begin(input.group, input.time, { owner: "root@pam" });
  try {
    const digests = digestsOf(input.pieces, input.digestKey);
    const have = await ds.hasChunks(digests);
    let uploaded = 0;
    const index = new DynamicIndexWriter();
    for (let i = 0; i < input.pieces.length; i++) {
      if (!have[i]) {
        await ds.insertChunk(digests[i]!, encodeBlob(input.pieces[i]!, { cipher: input.cipher }));
        uploaded++;
      }
      index.addChunk(input.pieces[i]!.length, digests[i]!);
    }
    await writer.addFile("root.pxar.didx", index.finish(), input.cipher ? "encrypt" : "none");
    await writer.commit();
    return { digests, uploaded };
  } finally {
    if (writer.isOpen) await writer.abort();
  }
}

/** Pretends the chunks were last touched `ms` earlier (time passing without sleeping). */
export function ageChunks(ds: Datastore, ms: number): void {
  ds.catalog.db.query("UPDATE chunks SET last_touched = last_touched - ?1, first_seen = first_seen - ?1").run(ms);
}

