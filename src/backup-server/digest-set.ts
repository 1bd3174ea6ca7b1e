/**
 * A set of chunk digests, as a session's allow-lists hold them (known chunks of a writer,
 * openable chunks of a reader). Digests are kept as 32-character latin1 strings (one byte per
 * character) rather than 64-character hex: half the memory for sessions over millions of
 * chunks, and index entries go in without a hex round trip.
 */
import type { ChunkIndex } from "../datastore/chunk-index.ts";

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
const fromHex = (hex: string) => Buffer.from(hex, "hex").toString("latin1");

export class DigestSet {
  private readonly keys = new Set<string>();

  get size(): number {
    return this.keys.size;
  }

  /** `hex` must already be a valid 64-digit lowercase digest (route validation). */
  add(hex: string): void {
    this.keys.add(fromHex(hex));
  }

  has(hex: string): boolean {
    return this.keys.has(fromHex(hex));
  }

  hasBytes(digest: Uint8Array): boolean {
    return this.keys.has(latin1(digest));
  }

  /** Adds every digest an index references; returns how many were new to the set. */
  addIndex(index: ChunkIndex): number {
    const before = this.keys.size;
    for (let i = 0; i < index.chunkCount; i++) this.keys.add(latin1(index.digestBytes(i)));
    return this.keys.size - before;
  }
}
