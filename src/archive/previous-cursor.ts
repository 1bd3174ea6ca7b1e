/**
 * A forward cursor over the entries of a previous metadata stream, for change detection
 * (previous.ts). It parses framed records straight out of a window of the stream: no record
 * objects, no decoded entries and no promise per record, because an unchanged backup asks it
 * about every file and the general scanner (scanner.ts: a decoded ArchiveEntry and several
 * awaits per record) was a quarter of that backup's CPU.
 *
 * Checked here: every record's CRC, the nesting of entries and goodbye tables, attributes only
 * after an entry. Not checked (the scanner does, for restores and verify): name order and
 * validity, goodbye table contents, the stream checksum. A lookup that trusts a damaged stream
 * can only miss (the file is read again), never mistake one file for another: chunk digests
 * (and with encryption, AEAD tags) already vouch for the bytes.
 */
import { RECORD_HEADER_SIZE, TAG, TAG_CLASS, metaError, tagClass } from "./format.ts";
import { compareJoinedPath } from "./paths.ts";
import { joinPath, recordCrcAt } from "./records.ts";
import type { RandomAccess } from "./source.ts";

/**
 * The entry under the cursor. Its byte positions are valid until the next `advance`. Its path
 * is not built (a copy per entry was most of the cursor's garbage): compare with `comparePath`,
 * print with `pathOf`.
 */
export interface CursorEntry {
  tag: number;
  /** Position of the entry's name in `cursor.buf`, and its length. */
  nameAt: number;
  nameLength: number;
  /** Parent directory's path (null for the root). */
  parentPath: Uint8Array | null;
  /** Stream offset of the entry record. */
  offset: number;
  /** Stream offset just past its attribute records. */
  end: number;
  /** Position of the entry record's body in `cursor.buf`, and its length. */
  bodyAt: number;
  bodyLength: number;
  /** Position in `cursor.buf` and tags of the attribute records (header start). */
  attrs: number[];
  /** True when every attribute is one this writer emits itself (xattr, sparse). */
  knownAttrs: boolean;
}

/** Bytes fetched per fill (more when one record is larger). */
export const CURSOR_WINDOW = 1024 * 1024;
const EMPTY = new Uint8Array(0);
/** Shared by the (most) entries without attributes; never modified. */
const NO_ATTRS: number[] = [];

export class PreviousCursor {
  /** Bytes of the stream from `bufStart`. */
  buf: Uint8Array = EMPTY;
  view = new DataView(new ArrayBuffer(0));
  private bufStart = 0;
  /**
   * The window's buffer, refilled in place (the unparsed rest moved to the front, new bytes
   * after it): nothing outside the cursor holds a view of the window (hits are copies), so one
   * buffer serves the whole stream instead of a fresh one per fill.
   */
  private backing = EMPTY;
  /** Stream offset of the next record not yet parsed. */
  private pos: number;
  private readonly dirs: Uint8Array[] = [];
  current: CursorEntry | undefined;
  exhausted = false;

  constructor(
    private readonly src: RandomAccess,
    /** Where the first record after the stream header starts. */
    start: number,
    /** Offset of the trailer record: the end of the entries. */
    private readonly trailerOffset: number,
    private readonly window = CURSOR_WINDOW,
  ) {
    this.pos = start;
  }

  /**
   * Moves to the next entry (skipping goodbye tables) if its records are in the window; false
   * when more of the stream must be fetched first (`fill`, then call again).
   */
  advance(): boolean {
    this.current = undefined;
    for (;;) {
      if (this.pos >= this.trailerOffset) {
        if (this.pos > this.trailerOffset) throw metaError(this.pos, "record runs into the trailer");
        this.exhausted = true;
        return true;
      }
      const at = this.pos - this.bufStart;
      const len = this.recordLength(at);
      if (len < 0) return false;
      const tag = this.view.getUint32(at, true);
      if (tag === TAG.dirEnd) {
        this.checkCrc(at, len);
        if (this.dirs.pop() === undefined) throw metaError(this.pos, "goodbye table without an open directory");
        this.pos += len;
        continue;
      }
      const cls = tagClass(tag);
      if (cls === TAG_CLASS.attribute) throw metaError(this.pos, `attribute record (tag 0x${tag.toString(16)}) without an entry before it`);
      if (cls !== TAG_CLASS.entry) throw metaError(this.pos, `unexpected structure record tag 0x${tag.toString(16)} among the entries`);
      // The entry and all its attributes must be in the window before anything is consumed.
      let attrs = NO_ATTRS;
      let knownAttrs = true;
      let next = this.pos + len;
      while (next < this.trailerOffset) {
        const a = next - this.bufStart;
        const alen = this.recordLength(a);
        if (alen < 0) return false;
        const atag = this.view.getUint32(a, true);
        if (tagClass(atag) !== TAG_CLASS.attribute) break;
        if (attrs === NO_ATTRS) attrs = [];
        attrs.push(a);
        if (atag !== TAG.xattr && atag !== TAG.sparse) knownAttrs = false;
        next += alen;
      }
      this.checkCrc(at, len);
      for (const a of attrs) this.checkCrc(a, RECORD_HEADER_SIZE + this.view.getUint32(a + 4, true));
      const bodyAt = at + RECORD_HEADER_SIZE;
      const bodyLength = len - RECORD_HEADER_SIZE;
      if (bodyLength < 2) throw metaError(this.pos, "entry record too short for its name");
      const nameLength = this.view.getUint16(bodyAt, true);
      if (2 + nameLength > bodyLength) throw metaError(this.pos, `entry name of ${nameLength} bytes does not fit its ${bodyLength}-byte record`);
      const parentPath = this.dirs.length > 0 ? this.dirs[this.dirs.length - 1]! : null;
      this.current = { tag, nameAt: bodyAt + 2, nameLength, parentPath, offset: this.pos, end: next, bodyAt, bodyLength, attrs, knownAttrs };
      if (tag === TAG.dir) this.dirs.push(this.pathOf(this.current));
      this.pos = next;
      return true;
    }
  }

  /** The entry's path from the archive root, as a copy that outlives the window. */
  pathOf(e: CursorEntry): Uint8Array {
    const name = this.buf.subarray(e.nameAt, e.nameAt + e.nameLength);
    return e.parentPath === null || e.parentPath.byteLength === 0 ? name.slice() : joinPath(e.parentPath, name);
  }

  /** comparePaths(path of e, path), without building e's path. */
  comparePath(e: CursorEntry, path: Uint8Array): number {
    return compareJoinedPath(e.parentPath, this.buf, e.nameAt, e.nameLength, path);
  }

  /** Fetches more of the stream into the window (keeping what is not yet parsed). */
  async fill(): Promise<void> {
    const bufEnd = this.bufStart + this.buf.byteLength;
    const keep = this.pos < bufEnd ? this.buf.subarray(this.pos - this.bufStart) : EMPTY;
    const from = Math.max(this.pos, bufEnd);
    // A record larger than the window (a long xattr) needs a bigger read.
    let want = this.window;
    if (keep.byteLength >= RECORD_HEADER_SIZE) {
      const kv = new DataView(keep.buffer, keep.byteOffset, keep.byteLength);
      want = Math.max(want, RECORD_HEADER_SIZE + kv.getUint32(4, true));
    }
    want = Math.min(want, this.trailerOffset - from);
    if (want <= 0) throw metaError(from, "metadata stream ends inside a record");
    // readSome hands out a view of the stream's chunk (no copy); the bytes are copied below.
    const data = this.src.readSome ? await this.src.readSome(from, want) : await this.src.read(from, want);
    if (data.byteLength === 0) throw metaError(from, "metadata stream ends early");
    const length = keep.byteLength + data.byteLength;
    let next = this.backing;
    if (next.byteLength < length) next = new Uint8Array(Math.max(length, this.window));
    next.set(keep, 0); // keep may lie in the same buffer: set() copies overlapping ranges correctly
    next.set(data, keep.byteLength);
    this.backing = next;
    this.buf = next.subarray(0, length);
    this.view = new DataView(next.buffer, 0, length);
    this.bufStart = this.pos;
  }

  /** Whole record length (header + body) at window position `at`, or -1 when not all in the window. */
  private recordLength(at: number): number {
    if (at + RECORD_HEADER_SIZE > this.buf.byteLength) return -1;
    const len = RECORD_HEADER_SIZE + this.view.getUint32(at + 4, true);
    if (this.bufStart + at + len > this.trailerOffset) {
      throw metaError(this.bufStart + at, `record (tag 0x${this.view.getUint32(at, true).toString(16)}) claims ${len - RECORD_HEADER_SIZE} bytes, beyond the entries`);
    }
    return at + len > this.buf.byteLength ? -1 : len;
  }

  private checkCrc(at: number, len: number): void {
    const stored = this.view.getUint32(at + 8, true);
    const crc = recordCrcAt(this.buf, at, len);
    if (crc !== stored) {
      throw metaError(this.bufStart + at, `record (tag 0x${this.view.getUint32(at, true).toString(16)}): CRC32 mismatch (stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)})`);
    }
  }
}
