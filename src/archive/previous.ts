/**
 * Change detection by metadata: a PreviousLookup backed by the previous snapshot's archive.
 *
 * The writer asks in archive order (depth first, names sorted), the same order the previous
 * metadata stream is in, so one forward cursor over it answers every question with bounded
 * memory: no map of all previous files is built. The cursor (previous-cursor.ts) parses records
 * in place, and a question whose answer is already in its window is answered without a promise.
 *
 * A file counts as unchanged when it is a regular file in both, and size, mtime (ns), ctime (ns)
 * and inode number are all equal. ctime catches chmod/chown/rename-over and most tools that
 * fake mtime; a change that preserves all four (e.g. a filesystem restored with ctime forged)
 * is not seen: run a backup without `previous` now and then.
 *
 * A hit carries the previous entry's records (`record`), which the writer copies instead of
 * encoding the entry again (record-copy.ts).
 */
import { NativeStat, sizeOf, type WalkStat } from "./stat-at.ts";
import { type ArchiveEntry, type Extent, RECORD_HEADER_SIZE, S_IF, S_IFMT, TAG, metaError } from "./format.ts";
import { formatPath, comparePaths } from "./paths.ts";
import { PreviousCursor, type CursorEntry } from "./previous-cursor.ts";
import type { ArchiveReader } from "./reader.ts";
import { checkExtents, decodeSparse, decodeXattr, ENTRY_FIELD, FILE_FIELD } from "./records.ts";
import type { PreviousFile, PreviousLookup } from "./writer.ts";

export interface PreviousLookupStats {
  hits: number;
  misses: number;
}

/** A u64 whose high word reaches this is beyond 2^53. */
const TWO_21 = 2 ** 21;
/** Shared by hits without xattrs (nobody modifies a hit's xattrs). */
const NO_XATTRS: Array<[Uint8Array, Uint8Array]> = [];

/** `windowBytes`: the cursor's read size (tests make it tiny to cross window edges everywhere). */
export function createPreviousLookup(previous: ArchiveReader, options: { windowBytes?: number } = {}): PreviousLookup & { stats: PreviousLookupStats } {
  let cursor: PreviousCursor | undefined;
  let lastAsked: Uint8Array | undefined;
  const stats: PreviousLookupStats = { hits: 0, misses: 0 };
  const NEED_DATA = Symbol("need data");

  /** Whether the entry seek stopped at has exactly the path asked for. */
  let exact = false;

  /** Moves the cursor to the first entry at or after `path`; NEED_DATA when the window ran dry. */
  const seek = (c: PreviousCursor, path: Uint8Array): CursorEntry | undefined | typeof NEED_DATA => {
    for (;;) {
      if (c.current === undefined) {
        if (c.exhausted) return undefined;
        if (!c.advance()) return NEED_DATA;
        if (c.current === undefined) return undefined;
      }
      const cmp = c.comparePath(c.current, path);
      if (cmp >= 0) {
        exact = cmp === 0;
        return c.current;
      }
      c.current = undefined;
    }
  };

  const answer = (c: PreviousCursor, e: CursorEntry | undefined, st: WalkStat): PreviousFile | undefined | Promise<PreviousFile | undefined> => {
    if (e === undefined || !exact) {
      stats.misses++;
      return undefined;
    }
    if (e.tag === TAG.file) return fileHit(c, e, st);
    if (e.tag === TAG.hardlink) return hardlinkHit(e, st);
    stats.misses++;
    return undefined;
  };

  const fileHit = (c: PreviousCursor, e: CursorEntry, st: WalkStat): PreviousFile | undefined => {
    const v = c.view;
    const at = e.bodyAt + 2 + v.getUint16(e.bodyAt, true);
    if (e.bodyLength !== at - e.bodyAt + FILE_FIELD.end) throw metaError(e.offset, `${formatPath(c.pathOf(e))}: file entry of ${e.bodyLength} bytes has the wrong length`);
    const mode = v.getUint32(at + ENTRY_FIELD.mode, true);
    if ((mode & S_IFMT) !== S_IF.file) throw metaError(e.offset, `${formatPath(c.pathOf(e))}: file entry has mode 0${mode.toString(8)} of another file type`);
    const same =
      st instanceof NativeStat
        ? st.sameAs(v, at)
        : v.getBigUint64(at + ENTRY_FIELD.size, true) === st.size &&
          v.getBigInt64(at + ENTRY_FIELD.mtimeNs, true) === st.mtimeNs &&
          v.getBigInt64(at + ENTRY_FIELD.ctimeNs, true) === st.ctimeNs &&
          v.getBigUint64(at + ENTRY_FIELD.ino, true) === st.ino;
    if (!same) {
      stats.misses++;
      return undefined;
    }
    const size = sizeOf(st);
    const payloadOffset = u53(c, at + FILE_FIELD.payloadOffset, e, "payload offset");
    const payloadLength = u53(c, at + FILE_FIELD.payloadLength, e, "payload length");
    const xattrs: Array<[Uint8Array, Uint8Array]> = e.attrs.length > 0 ? [] : NO_XATTRS;
    let extents: Extent[] | undefined;
    for (const a of e.attrs) {
      const tag = v.getUint32(a, true);
      // Copies: views would keep the whole window alive while the new entry waits in a queue.
      const body = c.buf.slice(a + RECORD_HEADER_SIZE, a + RECORD_HEADER_SIZE + v.getUint32(a + 4, true));
      try {
        if (tag === TAG.xattr) xattrs.push(decodeXattr(body));
        else if (tag === TAG.sparse) extents = decodeSparse(body);
      } catch (err) {
        throw metaError(e.offset, `${formatPath(c.pathOf(e))}: ${(err as Error).message}`);
      }
    }
    try {
      if (extents) checkExtents(extents, size, payloadLength);
      else if (payloadLength !== size) throw new Error(`payload length ${payloadLength} != size ${size}`);
      if (payloadLength > 0 && payloadOffset + 16 + payloadLength > previous.trailer.payloadLength) {
        throw new Error(`payload [${payloadOffset}, +${payloadLength}) lies beyond the payload stream (${previous.trailer.payloadLength} bytes)`);
      }
    } catch (err) {
      throw metaError(e.offset, `${formatPath(c.pathOf(e))}: ${(err as Error).message}`);
    }
    stats.hits++;
    // Copies (slice), not views: a view of a small copy would make JSC move its storage.
    const windowAt = e.bodyAt - RECORD_HEADER_SIZE;
    if (e.knownAttrs) {
      // The digest is in the record (PreviousFile.sha256).
      const record = c.buf.slice(windowAt, windowAt + (e.end - e.offset));
      return { payloadOffset, payloadLength, size, extents, xattrs, record };
    }
    const sha256 = c.buf.slice(at + FILE_FIELD.sha256, at + FILE_FIELD.end);
    return { payloadOffset, payloadLength, size, sha256, extents, xattrs };
  };

  /** A previous hardlink: its target's content, decoded the general way (rare). */
  const hardlinkHit = async (e: CursorEntry, st: WalkStat): Promise<PreviousFile | undefined> => {
    const { entry: link } = await previous.readEntryAt(e.offset, e.parentPath);
    const entry: ArchiveEntry = await previous.resolveHardlink(link);
    const f = entry.file;
    const same = f !== undefined && BigInt(entry.size) === st.size && entry.mtimeNs === st.mtimeNs && entry.ctimeNs === st.ctimeNs && entry.ino === st.ino;
    if (!same) {
      stats.misses++;
      return undefined;
    }
    stats.hits++;
    const xattrs = entry.xattrs.map(([k, v]): [Uint8Array, Uint8Array] => [k.slice(), v.slice()]);
    return { payloadOffset: f.payloadOffset, payloadLength: f.payloadLength, size: entry.size, sha256: f.sha256.slice(), extents: f.extents, xattrs };
  };

  const slow = async (path: Uint8Array, st: WalkStat): Promise<PreviousFile | undefined> => {
    if (!cursor) {
      const head = await previous.readRecordAt(0, "stream header");
      cursor = new PreviousCursor(previous.meta, head.end, previous.trailerOffset, options.windowBytes);
    }
    for (;;) {
      const e = seek(cursor, path);
      if (e !== NEED_DATA) return answer(cursor, e, st);
      await cursor.fill();
    }
  };

  const lookup = (path: Uint8Array, st: WalkStat): PreviousFile | undefined | Promise<PreviousFile | undefined> => {
    if (lastAsked && comparePaths(path, lastAsked) <= 0) {
      throw new Error("previous lookup must be asked in archive order (depth first, names sorted)");
    }
    lastAsked = path;
    if (!cursor) return slow(path, st);
    const e = seek(cursor, path);
    return e === NEED_DATA ? slow(path, st) : answer(cursor, e, st);
  };
  return Object.assign(lookup, { stats });
}

/** A u64 field as a number, from its 32-bit halves: no BigInt for the common case (every hit). */
function u53(c: PreviousCursor, at: number, e: CursorEntry, what: string): number {
  const v = c.view;
  const hi = v.getUint32(at + 4, true);
  if (hi >= TWO_21) throw metaError(e.offset, `${formatPath(c.pathOf(e))}: ${what} ${v.getBigUint64(at, true)} is beyond 2^53`);
  return hi * 2 ** 32 + v.getUint32(at, true);
}
