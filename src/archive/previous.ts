/**
 * Change detection by metadata: a PreviousLookup backed by the previous snapshot's archive.
 *
 * The writer asks in archive order (depth first, names sorted), the same order the previous
 * metadata stream is in, so one forward cursor over it answers every question with bounded
 * memory: no map of all previous files is built.
 *
 * A file counts as unchanged when it is a regular file in both, and size, mtime (ns), ctime (ns)
 * and inode number are all equal. ctime catches chmod/chown/rename-over and most tools that
 * fake mtime; a change that preserves all four (e.g. a filesystem restored with ctime forged)
 * is not seen: run a backup without `previous` now and then.
 */
import type { BigIntStats } from "node:fs";
import type { ArchiveEntry } from "./format.ts";
import { comparePaths } from "./paths.ts";
import type { ArchiveReader } from "./reader.ts";
import type { PreviousFile, PreviousLookup } from "./writer.ts";

export interface PreviousLookupStats {
  hits: number;
  misses: number;
}

export function createPreviousLookup(previous: ArchiveReader): PreviousLookup & { stats: PreviousLookupStats } {
  const it = previous.entries();
  let current: ArchiveEntry | undefined;
  let started = false;
  let exhausted = false;
  let lastAsked: Uint8Array | undefined;
  const stats: PreviousLookupStats = { hits: 0, misses: 0 };

  const advance = async (): Promise<void> => {
    const r = await it.next();
    current = r.done ? undefined : r.value;
    if (r.done) exhausted = true;
  };

  const lookup = async (path: Uint8Array, st: BigIntStats): Promise<PreviousFile | undefined> => {
    if (lastAsked && comparePaths(path, lastAsked) <= 0) {
      throw new Error("previous lookup must be asked in archive order (depth first, names sorted)");
    }
    lastAsked = path;
    if (!started) {
      started = true;
      await advance();
    }
    while (!exhausted && current && comparePaths(current.path, path) < 0) await advance();
    if (!current || comparePaths(current.path, path) !== 0) {
      stats.misses++;
      return undefined;
    }
    const entry = current.kind === "hardlink" ? await previous.resolveHardlink(current) : current;
    const f = entry.file;
    const same =
      f !== undefined &&
      BigInt(entry.size) === st.size &&
      entry.mtimeNs === st.mtimeNs &&
      entry.ctimeNs === st.ctimeNs &&
      entry.ino === st.ino;
    if (!same) {
      stats.misses++;
      return undefined;
    }
    stats.hits++;
    // Copies: the entry's views keep a whole metadata chunk alive while the new entry waits in a queue.
    const xattrs = entry.xattrs.map(([k, v]): [Uint8Array, Uint8Array] => [k.slice(), v.slice()]);
    return { payloadOffset: f.payloadOffset, payloadLength: f.payloadLength, size: entry.size, sha256: f.sha256.slice(), extents: f.extents, xattrs };
  };
  return Object.assign(lookup, { stats });
}
