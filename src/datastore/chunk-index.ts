/** Opens either kind of chunk index by file name; what snapshot readers, verify and GC use. */
import { DynamicIndex } from "./dynamic-index.ts";
import { CorruptError } from "./errors.ts";
import { FixedIndex } from "./fixed-index.ts";

export type ChunkIndex = FixedIndex | DynamicIndex;

export function isIndexFilename(filename: string): boolean {
  return filename.endsWith(".fidx") || filename.endsWith(".didx");
}

/** Parses `bytes` as the index kind its file name says; `name` (path) names it in errors. */
export function parseChunkIndex(filename: string, bytes: Uint8Array, name = filename): ChunkIndex {
  if (filename.endsWith(".fidx")) return FixedIndex.parse(bytes, name);
  if (filename.endsWith(".didx")) return DynamicIndex.parse(bytes, name);
  throw new CorruptError(`${name}: not an index file name (expected .fidx or .didx)`);
}
