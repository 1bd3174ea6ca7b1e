/** Shared test helpers: temp datastores and a miniature backup (chunk, store, index, commit). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeBlob, type BlobCipher } from "../../../src/datastore/blob.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { chunkDigest } from "../../../src/datastore/digest.ts";
import { DynamicIndexWriter } from "../../../src/datastore/dynamic-index.ts";
import type { CommitOptions } from "../../../src/datastore/snapshot-writer.ts";
import type { GroupRef } from "../../../src/datastore/snapshot-path.ts";

export function tempDir(label = "ds"): string {
  return mkdtempSync(join(tmpdir(), `ibs-${label}-`));
}

export async function withDatastore<T>(fn: (ds: Datastore, dir: string) => Promise<T>): Promise<T> {
  const parent = tempDir();
  const dir = join(parent, "store");
  const ds = await Datastore.create(dir);
  try {
    return await fn(ds, dir);
  } finally {
    ds.close();
    rmSync(parent, { recursive: true, force: true });
  }
}

/** Deterministic pseudo-random bytes (xorshift), so tests can make related data. */
export function pseudoRandom(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export interface BackupInput {
  group: GroupRef;
  time: string;
  data: Uint8Array;
  owner?: string;
  chunkSize?: number;
  cipher?: BlobCipher;
  digestKey?: Uint8Array;
  commit?: CommitOptions;
  archive?: string;
}

/** Stores `data` as chunks + a .didx and a config blob, then commits. Returns the chunk digests. */
export async function backup(ds: Datastore, input: BackupInput): Promise<string[]> {
  const chunkSize = input.chunkSize ?? 4096;
  const index = new DynamicIndexWriter();
  const digests: string[] = [];
  for (let off = 0; off < input.data.length; off += chunkSize) {
    const piece = input.data.subarray(off, Math.min(off + chunkSize, input.data.length));
    const digest = chunkDigest(piece, input.digestKey);
    await ds.insertChunk(digest, encodeBlob(piece, { cipher: input.cipher }));
    index.addChunk(piece.length, digest);
    digests.push(digest);
  }
  const writer = await ds.snapshots.begin(input.group, input.time, { owner: input.owner ?? "root@pam" });
  const mode = input.cipher ? "encrypt" : "none";
  await writer.addFile(input.archive ?? "root.pxar.didx", index.finish(), mode);
  await writer.addFile("qemu-server.conf.blob", encodeBlob(new TextEncoder().encode(`config of ${input.group.id}\n`), { cipher: input.cipher }));
  await writer.commit(input.commit);
  return digests;
}

export const vm100: GroupRef = { ns: [], type: "vm", id: "100" };
