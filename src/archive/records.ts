/**
 * Encoding and decoding of metadata records and payload headers (layout: docs/archive-format.md).
 * Pure functions over bytes; no I/O. Decoders throw plain Errors with the field that was wrong;
 * the reader adds the stream, offset and path.
 */
import {
  type ArchiveEntry,
  type EntryKind,
  type Extent,
  FORMAT_VERSION,
  HEADER_BODY_SIZE,
  MAGIC,
  PAYLOAD_HEADER_SIZE,
  PAYLOAD_START_BODY_SIZE,
  PAYLOAD_TAIL_BODY_SIZE,
  RECORD_HEADER_SIZE,
  S_IF,
  S_IFMT,
  TAG_KIND,
  TRAILER_BODY_SIZE,
  bytesEqual,
} from "./format.ts";

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  /** `initial`: a capacity, or a buffer to write into (one handed back by take()'s receiver). */
  constructor(initial: number | ArrayBuffer = 256) {
    // From an ArrayBuffer: `.buffer` of a small `new Uint8Array(n)` makes JSC move its storage
    // (measured: a fifth of the time spent encoding entries).
    const ab = typeof initial === "number" ? new ArrayBuffer(initial) : initial;
    this.buf = new Uint8Array(ab);
    this.view = new DataView(ab);
  }

  private room(n: number): void {
    if (this.length + n <= this.buf.byteLength) return;
    let cap = this.buf.byteLength * 2;
    while (cap < this.length + n) cap *= 2;
    const ab = new ArrayBuffer(cap);
    const next = new Uint8Array(ab);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(ab);
  }

  u8(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`value ${v} does not fit in u8`);
    this.room(1);
    this.buf[this.length++] = v;
    return this;
  }
  u16(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`value ${v} does not fit in u16`);
    this.room(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
    return this;
  }
  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`value ${v} does not fit in u32`);
    this.room(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
    return this;
  }
  u64(v: number | bigint): this {
    this.room(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
    return this;
  }
  i64(v: bigint): this {
    this.room(8);
    this.view.setBigInt64(this.length, v, true);
    this.length += 8;
    return this;
  }
  f64(v: number): this {
    this.room(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.byteLength);
    this.buf.set(b, this.length);
    this.length += b.byteLength;
    return this;
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
  /**
   * Hands out the buffer written so far without a copy (to transfer to another thread) and
   * starts over, in `next` when given, else in a fresh buffer of the same size.
   */
  take(next?: ArrayBuffer): { buffer: ArrayBuffer; length: number } {
    const out = { buffer: this.buf.buffer as ArrayBuffer, length: this.length };
    const ab = next ?? new ArrayBuffer(this.buf.byteLength);
    this.buf = new Uint8Array(ab);
    this.view = new DataView(ab);
    this.length = 0;
    return out;
  }
}

export class ByteReader {
  private readonly view: DataView;
  pos = 0;

  /** `kind`: what the bytes are, for the error when they end too soon. */
  constructor(
    readonly buf: Uint8Array,
    private readonly kind = "record body",
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.buf.byteLength) {
      throw new Error(`${this.kind} too short for ${what} (need ${n} bytes at offset ${this.pos}, it has ${this.buf.byteLength})`);
    }
  }
  get remaining(): number {
    return this.buf.byteLength - this.pos;
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(what: string): number {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${what} ${v} is beyond 2^53`);
    return Number(v);
  }
  u64big(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  i64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }
  f64(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  /** As bytes(), but a copy of its own that outlives `buf`. */
  copy(n: number, what: string): Uint8Array {
    this.need(n, what);
    return this.buf.slice(this.pos, (this.pos += n));
  }
  rest(): Uint8Array {
    const v = this.buf.subarray(this.pos);
    this.pos = this.buf.byteLength;
    return v;
  }
  end(what: string): void {
    if (this.pos !== this.buf.byteLength) throw new Error(`${this.buf.byteLength - this.pos} unexpected trailing bytes in ${what}`);
  }
}

// ---- record framing -------------------------------------------------------------------------

/** Scratch for the CRC's tag and length bytes (single-threaded: no call awaits in between). */
const CRC_HEAD_BUFFER = new ArrayBuffer(8);
const CRC_HEAD = new Uint8Array(CRC_HEAD_BUFFER);
const CRC_HEAD_VIEW = new DataView(CRC_HEAD_BUFFER);

export function recordCrc(tag: number, body: Uint8Array): number {
  CRC_HEAD_VIEW.setUint32(0, tag, true);
  CRC_HEAD_VIEW.setUint32(4, body.byteLength, true);
  return Bun.hash.crc32(body, Bun.hash.crc32(CRC_HEAD)) >>> 0;
}

/**
 * The CRC of a framed record whose first 8 bytes (tag, length) are `head`: the same value as
 * recordCrc, without copying the header.
 */
export function recordCrcOf(head: Uint8Array, body: Uint8Array): number {
  return Bun.hash.crc32(body, crc32Of8(head, 0)) >>> 0;
}

/**
 * The CRC of the framed record at `buf[at, at + length)`: its tag and length bytes, then its
 * body (the stored CRC between them is not covered). One view for the body, none for the
 * header: change detection checks a record per previous entry and patches one per unchanged
 * file, and making views was a tenth of that walk in a profile.
 */
export function recordCrcAt(buf: Uint8Array, at: number, length: number): number {
  return Bun.hash.crc32(buf.subarray(at + RECORD_HEADER_SIZE, at + length), crc32Of8(buf, at)) >>> 0;
}

/** CRC-32 (IEEE, as Bun.hash.crc32 computes it) of `b[at, at + 8)`: the table way, no view. */
function crc32Of8(b: Uint8Array, at: number): number {
  let c = -1;
  for (let i = at; i < at + 8; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

export function encodeRecord(tag: number, body: Uint8Array): Uint8Array {
  const ab = new ArrayBuffer(RECORD_HEADER_SIZE + body.byteLength);
  const out = new Uint8Array(ab);
  const v = new DataView(ab);
  v.setUint32(0, tag, true);
  v.setUint32(4, body.byteLength, true);
  out.set(body, RECORD_HEADER_SIZE);
  v.setUint32(8, recordCrcOf(out, body), true);
  return out;
}

export interface RecordHeader {
  tag: number;
  length: number;
  crc: number;
}

const u32le = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

export function decodeRecordHeader(b: Uint8Array): RecordHeader {
  if (b.byteLength < RECORD_HEADER_SIZE) throw new RangeError(`record header needs ${RECORD_HEADER_SIZE} bytes, got ${b.byteLength}`);
  return { tag: u32le(b, 0), length: u32le(b, 4), crc: u32le(b, 8) };
}

// ---- stream header and trailer --------------------------------------------------------------

export interface StreamHeader {
  version: number;
  flags: number;
  archiveId: Uint8Array;
}

export function encodeHeader(archiveId: Uint8Array): Uint8Array {
  return new ByteWriter(HEADER_BODY_SIZE).bytes(MAGIC.metadata).u32(FORMAT_VERSION).u32(0).bytes(archiveId).finish();
}

export function decodeHeader(body: Uint8Array): StreamHeader {
  const r = new ByteReader(body);
  if (!bytesEqual(r.bytes(8, "magic"), MAGIC.metadata)) throw new Error("not an IBS archive metadata stream (bad magic)");
  const version = r.u32("version");
  const flags = r.u32("flags");
  const archiveId = r.bytes(16, "archive id");
  return { version, flags, archiveId };
}

export interface Trailer {
  rootOffset: number;
  rootEndOffset: number;
  entryCount: number;
  payloadLength: number;
  /** SHA-256 of every metadata byte before the trailer record. */
  sha256: Uint8Array;
}

export function encodeTrailer(t: Trailer): Uint8Array {
  return new ByteWriter(TRAILER_BODY_SIZE)
    .u64(t.rootOffset)
    .u64(t.rootEndOffset)
    .u64(t.entryCount)
    .u64(t.payloadLength)
    .bytes(t.sha256)
    .bytes(MAGIC.trailer)
    .finish();
}

export function decodeTrailer(body: Uint8Array): Trailer {
  const r = new ByteReader(body);
  const t: Trailer = {
    rootOffset: r.u64("root offset"),
    rootEndOffset: r.u64("root end offset"),
    entryCount: r.u64("entry count"),
    payloadLength: r.u64("payload length"),
    sha256: r.bytes(32, "checksum"),
  };
  if (!bytesEqual(r.bytes(8, "trailer magic"), MAGIC.trailer)) throw new Error("bad trailer magic");
  r.end("trailer");
  return t;
}

// ---- entries ----------------------------------------------------------------------------------

export interface EntryStat {
  flags: number;
  mode: number;
  uid: number;
  gid: number;
  ino: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  size: number;
}

export type EntryExtra =
  | { kind: "dir" | "fifo" | "socket" }
  | { kind: "file"; payloadOffset: number; payloadLength: number; sha256: Uint8Array }
  | { kind: "symlink"; target: Uint8Array }
  | { kind: "chr" | "blk"; major: number; minor: number }
  | { kind: "hardlink"; targetOffset: number; targetPath: Uint8Array };

/**
 * Where an entry body's fixed fields sit, counted from the end of its name (u16 length + name
 * bytes): the layout encodeEntryBody writes, and what change detection reads in place
 * (previous.ts, record-copy.ts, stat-at.ts) without decoding the entry.
 */
export const ENTRY_FIELD = { flags: 0, mode: 4, uid: 8, gid: 12, ino: 16, mtimeNs: 24, ctimeNs: 32, size: 40, end: 48 } as const;
/** A FILE entry's fields after the fixed ones, counted the same way. */
export const FILE_FIELD = { payloadOffset: 48, payloadLength: 56, sha256: 64, end: 96 } as const;

/** Bytes of an entry body before its kind-specific part: name length, name, stat. */
const ENTRY_FIXED = 2 + ENTRY_FIELD.end;

/**
 * One allocation of the exact size, written through one DataView: entries are encoded once per
 * file on every backup, and the generic ByteWriter (growth checks, a final copy) was a fifth of
 * an unchanged backup's CPU.
 */
export function encodeEntryBody(name: Uint8Array, st: EntryStat, extra: EntryExtra): Uint8Array {
  let extraSize = 0;
  switch (extra.kind) {
    case "file":
      if (extra.sha256.byteLength !== 32) throw new RangeError("file sha256 must be 32 bytes");
      extraSize = 16 + 32;
      break;
    case "symlink":
      extraSize = extra.target.byteLength;
      break;
    case "chr":
    case "blk":
      extraSize = 8;
      break;
    case "hardlink":
      extraSize = 8 + extra.targetPath.byteLength;
      break;
  }
  checkUint(name.byteLength, 0xffff, "name length");
  for (const [v, what] of [[st.flags, "flags"], [st.mode, "mode"], [st.uid, "uid"], [st.gid, "gid"]] as const) checkUint(v, 0xffffffff, what);
  const ab = new ArrayBuffer(ENTRY_FIXED + name.byteLength + extraSize);
  const out = new Uint8Array(ab);
  const v = new DataView(ab);
  let at = 0;
  v.setUint16(at, name.byteLength, true);
  out.set(name, 2);
  at = 2 + name.byteLength;
  v.setUint32(at + ENTRY_FIELD.flags, st.flags, true);
  v.setUint32(at + ENTRY_FIELD.mode, st.mode, true);
  v.setUint32(at + ENTRY_FIELD.uid, st.uid, true);
  v.setUint32(at + ENTRY_FIELD.gid, st.gid, true);
  v.setBigUint64(at + ENTRY_FIELD.ino, st.ino, true);
  v.setBigInt64(at + ENTRY_FIELD.mtimeNs, st.mtimeNs, true);
  v.setBigInt64(at + ENTRY_FIELD.ctimeNs, st.ctimeNs, true);
  v.setBigUint64(at + ENTRY_FIELD.size, BigInt(st.size), true);
  switch (extra.kind) {
    case "file":
      v.setBigUint64(at + FILE_FIELD.payloadOffset, BigInt(extra.payloadOffset), true);
      v.setBigUint64(at + FILE_FIELD.payloadLength, BigInt(extra.payloadLength), true);
      out.set(extra.sha256, at + FILE_FIELD.sha256);
      return out;
  }
  at += ENTRY_FIELD.end;
  switch (extra.kind) {
    case "symlink":
      out.set(extra.target, at);
      break;
    case "chr":
    case "blk":
      checkUint(extra.major, 0xffffffff, "major");
      checkUint(extra.minor, 0xffffffff, "minor");
      v.setUint32(at, extra.major, true);
      v.setUint32(at + 4, extra.minor, true);
      break;
    case "hardlink":
      v.setBigUint64(at, BigInt(extra.targetOffset), true);
      out.set(extra.targetPath, at + 8);
      break;
  }
  return out;
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} ${v} does not fit in ${max === 0xffff ? "u16" : "u32"}`);
}

const KIND_IFMT: Record<Exclude<EntryKind, "hardlink">, number> = {
  dir: S_IF.dir,
  file: S_IF.file,
  symlink: S_IF.symlink,
  chr: S_IF.chr,
  blk: S_IF.blk,
  fifo: S_IF.fifo,
  socket: S_IF.socket,
};

/** Decodes an entry record body (without attributes). `path` is the parent's path. */
export function decodeEntryBody(tag: number, body: Uint8Array, offset: number, parentPath: Uint8Array | null): ArchiveEntry {
  const kind = TAG_KIND.get(tag);
  if (!kind) throw new Error(`tag 0x${tag.toString(16)} is not an entry`);
  const r = new ByteReader(body);
  const name = r.bytes(r.u16("name length"), "name");
  const e: ArchiveEntry = {
    kind,
    name,
    path: parentPath === null ? name : joinPath(parentPath, name),
    offset,
    flags: r.u32("flags"),
    mode: r.u32("mode"),
    uid: r.u32("uid"),
    gid: r.u32("gid"),
    ino: r.u64big("inode"),
    mtimeNs: r.i64("mtime"),
    ctimeNs: r.i64("ctime"),
    size: r.u64("size"),
    xattrs: [],
  };
  if (kind !== "hardlink" && (e.mode & S_IFMT) !== KIND_IFMT[kind]) {
    throw new Error(`${kind} entry has mode 0${e.mode.toString(8)} of another file type`);
  }
  switch (kind) {
    case "file":
      e.file = { payloadOffset: r.u64("payload offset"), payloadLength: r.u64("payload length"), sha256: r.bytes(32, "sha256") };
      r.end("file entry");
      break;
    case "symlink":
      e.symlinkTarget = r.rest();
      if (e.symlinkTarget.byteLength !== e.size) throw new Error(`symlink target length ${e.symlinkTarget.byteLength} != size ${e.size}`);
      break;
    case "chr":
    case "blk":
      e.device = { major: r.u32("major"), minor: r.u32("minor") };
      r.end("device entry");
      break;
    case "hardlink":
      e.hardlink = { targetOffset: r.u64("target offset"), targetPath: r.rest() };
      break;
    default:
      r.end(`${kind} entry`);
  }
  return e;
}

export function joinPath(parent: Uint8Array, name: Uint8Array): Uint8Array {
  if (parent.byteLength === 0) return name;
  const out = new Uint8Array(parent.byteLength + 1 + name.byteLength);
  out.set(parent);
  out[parent.byteLength] = 0x2f;
  out.set(name, parent.byteLength + 1);
  return out;
}

// ---- attributes -------------------------------------------------------------------------------

export function encodeXattr(name: Uint8Array, value: Uint8Array): Uint8Array {
  return new ByteWriter(2 + name.byteLength + value.byteLength).u16(name.byteLength).bytes(name).bytes(value).finish();
}

export function decodeXattr(body: Uint8Array): [Uint8Array, Uint8Array] {
  const r = new ByteReader(body);
  const name = r.bytes(r.u16("xattr name length"), "xattr name");
  return [name, r.rest()];
}

export function encodeSparse(extents: Extent[]): Uint8Array {
  const w = new ByteWriter(4 + 16 * extents.length).u32(extents.length);
  for (const x of extents) w.u64(x.offset).u64(x.length);
  return w.finish();
}

export function decodeSparse(body: Uint8Array): Extent[] {
  const r = new ByteReader(body);
  const n = r.u32("extent count");
  if (r.remaining !== n * 16) throw new Error(`sparse map of ${n} extents has ${r.remaining} bytes`);
  const out: Extent[] = [];
  for (let i = 0; i < n; i++) out.push({ offset: r.u64("extent offset"), length: r.u64("extent length") });
  return out;
}

/** Checks a sparse map against the file size and stored length: sorted, disjoint, non-empty, in range. */
export function checkExtents(extents: Extent[], size: number, payloadLength: number): void {
  let end = 0;
  let total = 0;
  for (const x of extents) {
    if (x.length <= 0 || x.offset < end || x.offset + x.length > size) {
      throw new Error(`sparse extent [${x.offset}, +${x.length}) overlaps, is empty or lies beyond size ${size}`);
    }
    end = x.offset + x.length;
    total += x.length;
  }
  if (total !== payloadLength) throw new Error(`sparse extents hold ${total} bytes but the payload holds ${payloadLength}`);
}

// ---- goodbye table ----------------------------------------------------------------------------

export interface GoodbyeItem {
  /** Offset of the child's entry record. */
  start: number;
  /** Offset of the child's DIR_END record if it is a directory, else 0. */
  dirEnd: number;
}

/**
 * u64 fields written as two u32 words, without a BigInt each: a goodbye table has two per
 * child, so this ran for every entry of a backup.
 */
export function encodeDirEnd(dirOffset: number, items: GoodbyeItem[]): Uint8Array {
  checkUint(items.length, 0xffffffff, "child count");
  const ab = new ArrayBuffer(12 + 16 * items.length);
  const v = new DataView(ab);
  setU64(v, 0, dirOffset, "directory offset");
  v.setUint32(8, items.length, true);
  let at = 12;
  for (const it of items) {
    setU64(v, at, it.start, "child offset");
    setU64(v, at + 8, it.dirEnd, "child end offset");
    at += 16;
  }
  return new Uint8Array(ab);
}

function setU64(v: DataView, at: number, n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} ${n} is not a non-negative integer below 2^53`);
  const lo = n % 0x100000000;
  v.setUint32(at, lo, true);
  v.setUint32(at + 4, (n - lo) / 0x100000000, true);
}

export function decodeDirEnd(body: Uint8Array): { dirOffset: number; items: GoodbyeItem[] } {
  const r = new ByteReader(body);
  const dirOffset = r.u64("directory offset");
  const n = r.u32("child count");
  if (r.remaining !== n * 16) throw new Error(`goodbye table of ${n} children has ${r.remaining} bytes`);
  const items: GoodbyeItem[] = [];
  for (let i = 0; i < n; i++) items.push({ start: r.u64("child offset"), dirEnd: r.u64("child end offset") });
  return { dirOffset, items };
}

// ---- payload stream ---------------------------------------------------------------------------

export function encodePayloadHeader(magic: Uint8Array, length: number): Uint8Array {
  return new ByteWriter(PAYLOAD_HEADER_SIZE).bytes(magic).u64(length).finish();
}

export function decodePayloadHeader(b: Uint8Array): { magic: Uint8Array; length: number } {
  // Byte arithmetic instead of a ByteReader: read once per restored file, and a DataView over
  // a small fresh array makes JSC move its storage first.
  if (b.byteLength < PAYLOAD_HEADER_SIZE) throw new Error(`record body too short for payload header (need ${PAYLOAD_HEADER_SIZE} bytes, got ${b.byteLength})`);
  const lo = u32le(b, 8);
  const hi = u32le(b, 12);
  if (hi > 0x1fffff) throw new Error(`payload length ${BigInt(hi) * 2n ** 32n + BigInt(lo)} is beyond 2^53`);
  return { magic: b.subarray(0, 8), length: hi * 2 ** 32 + lo };
}

export function encodePayloadStart(archiveId: Uint8Array): Uint8Array {
  const body = new ByteWriter(PAYLOAD_START_BODY_SIZE).u32(FORMAT_VERSION).u32(0).bytes(archiveId).finish();
  return concat([encodePayloadHeader(MAGIC.payloadStart, body.byteLength), body]);
}

export interface PayloadTail {
  fileRecords: number;
  gapRecords: number;
  gapBytes: number;
}

export function encodePayloadTail(t: PayloadTail): Uint8Array {
  const body = new ByteWriter(PAYLOAD_TAIL_BODY_SIZE).u64(t.fileRecords).u64(t.gapRecords).u64(t.gapBytes).finish();
  return concat([encodePayloadHeader(MAGIC.payloadTail, body.byteLength), body]);
}

export function decodePayloadTail(body: Uint8Array): PayloadTail {
  const r = new ByteReader(body);
  const t = { fileRecords: r.u64("file records"), gapRecords: r.u64("gap records"), gapBytes: r.u64("gap bytes") };
  r.end("payload tail");
  return t;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

