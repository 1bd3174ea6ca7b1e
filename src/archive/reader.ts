/**
 * Archive reader: opens a metadata + payload stream pair (random access), lists entries, looks
 * up one path through the goodbye tables, and streams file contents verified against the
 * per-file SHA-256. Extraction to a directory lives in extract.ts (re-exported here).
 *
 * Nothing here returns unverified data silently: record CRCs, payload headers and content
 * hashes are checked, and every error names the stream, the offset and, where known, the path.
 */
import {
  type ArchiveEntry,
  ArchiveFormatError,
  FORMAT_VERSION,
  HEADER_BODY_SIZE,
  MAGIC,
  MAX_RECORD_BODY,
  PAYLOAD_HEADER_SIZE,
  PAYLOAD_START_BODY_SIZE,
  PAYLOAD_TAIL_BODY_SIZE,
  RECORD_HEADER_SIZE,
  TAG,
  TRAILER_RECORD_SIZE,
  TAG_CLASS,
  TAG_KIND,
  bytesEqual,
  hex,
  metaError,
  tagClass,
} from "./format.ts";
import { formatPath, splitPath, toPathBytes } from "./paths.ts";
import {
  ByteReader,
  type GoodbyeItem,
  type StreamHeader,
  type Trailer,
  decodeDirEnd,
  decodeEntryBody,
  decodeHeader,
  decodePayloadHeader,
  decodePayloadTail,
  decodeRecordHeader,
  decodeSparse,
  decodeTrailer,
  decodeXattr,
  checkExtents,
  recordCrcOf,
} from "./records.ts";
import { MetadataScanner } from "./scanner.ts";
import { type RandomAccess, WindowReader } from "./source.ts";

export { type RandomAccess, memorySource, fileSource } from "./source.ts";
export { MetadataScanner, type ScanEvent } from "./scanner.ts";
export { extractArchive, type ExtractOptions, type ExtractResult } from "./extract.ts";

export interface RawRecord {
  tag: number;
  offset: number;
  body: Uint8Array;
  /** Offset just past the record. */
  end: number;
  header: Uint8Array;
}

const PIECE = 1 << 20;
const EMPTY_SHA256 = new Bun.CryptoHasher("sha256").digest() as Uint8Array;

export class ArchiveReader {
  private readonly metaWin: WindowReader;
  private readonly goodbyeCache = new Map<number, GoodbyeItem[]>();

  private constructor(
    readonly meta: RandomAccess,
    readonly payload: RandomAccess,
    readonly header: StreamHeader,
    readonly trailer: Trailer,
  ) {
    this.metaWin = new WindowReader(meta);
  }

  static async open(meta: RandomAccess, payload: RandomAccess): Promise<ArchiveReader> {
    const minMeta = RECORD_HEADER_SIZE + HEADER_BODY_SIZE + TRAILER_RECORD_SIZE;
    if (meta.size < minMeta) throw new ArchiveFormatError(`metadata stream: only ${meta.size} bytes, too short for header and trailer (${minMeta})`);
    const probe = new ArchiveReader(meta, payload, { version: 0, flags: 0, archiveId: new Uint8Array(16) }, null as unknown as Trailer);
    const head = await probe.readRecordAt(0);
    if (head.tag !== TAG.header) throw metaError(0, `first record has tag 0x${head.tag.toString(16)}, expected the stream header`);
    let header: StreamHeader;
    try {
      header = decodeHeader(head.body);
    } catch (e) {
      throw metaError(0, (e as Error).message);
    }
    if (header.version > FORMAT_VERSION) {
      throw metaError(0, `archive format version ${header.version} is newer than this reader (${FORMAT_VERSION}); upgrade ironcore-backup`);
    }
    const tOff = meta.size - TRAILER_RECORD_SIZE;
    const t = await probe.readRecordAt(tOff, "trailer");
    if (t.tag !== TAG.trailer || t.end !== meta.size) throw metaError(tOff, "no trailer at the end of the stream (truncated?)");
    let trailer: Trailer;
    try {
      trailer = decodeTrailer(t.body);
    } catch (e) {
      throw metaError(tOff, `trailer: ${(e as Error).message}`);
    }
    await checkPayloadEnds(payload, header.archiveId, trailer.payloadLength);
    return new ArchiveReader(meta, payload, header, trailer);
  }

  get archiveId(): Uint8Array {
    return this.header.archiveId;
  }
  get entryCount(): number {
    return this.trailer.entryCount;
  }
  /** Offset of the trailer record = end of the hashed part of the metadata stream. */
  get trailerOffset(): number {
    return this.meta.size - TRAILER_RECORD_SIZE;
  }

  /**
   * The record read last: a scan reads each record twice (once to see whether the entry before
   * it has more attributes, once as the next record), and each read checks its CRC.
   */
  private lastRecord: RawRecord | undefined;

  /** One framed metadata record, CRC-checked. */
  async readRecordAt(offset: number, what = "record"): Promise<RawRecord> {
    const last = this.lastRecord;
    if (last !== undefined && last.offset === offset) return last;
    const rec = await this.readRecordUncached(offset, what);
    this.lastRecord = rec;
    return rec;
  }

  private async readRecordUncached(offset: number, what: string): Promise<RawRecord> {
    if (offset < 0 || offset + RECORD_HEADER_SIZE > this.meta.size) {
      throw metaError(offset, `${what} header lies beyond the end of the stream (${this.meta.size} bytes)`);
    }
    // A view, not a copy: sources never change bytes they handed out, and a window that moves
    // on leaves the old one intact.
    const header = await this.metaWin.get(offset, RECORD_HEADER_SIZE);
    const h = decodeRecordHeader(header);
    const end = offset + RECORD_HEADER_SIZE + h.length;
    if (h.length > MAX_RECORD_BODY || end > this.meta.size) {
      throw metaError(offset, `${what} (tag 0x${h.tag.toString(16)}) claims ${h.length} bytes, beyond the end of the stream`);
    }
    const body = await this.metaWin.get(offset + RECORD_HEADER_SIZE, h.length);
    const crc = recordCrcOf(header, body);
    if (crc !== h.crc) {
      throw metaError(offset, `${what} (tag 0x${h.tag.toString(16)}): CRC32 mismatch (stored 0x${h.crc.toString(16)}, computed 0x${crc.toString(16)})`);
    }
    return { tag: h.tag, offset, body, end, header };
  }

  /** The entry whose record starts at `offset`, with its attribute records. */
  async readEntryAt(offset: number, parentPath: Uint8Array | null): Promise<{ entry: ArchiveEntry; end: number }> {
    const rec = await this.readRecordAt(offset, "entry");
    if (tagClass(rec.tag) !== TAG_CLASS.entry) throw metaError(offset, `expected an entry record, found tag 0x${rec.tag.toString(16)}`);
    const entry = this.decodeEntry(rec, parentPath);
    let pos = rec.end;
    while (pos < this.trailerOffset) {
      const next = await this.readRecordAt(pos);
      if (tagClass(next.tag) !== TAG_CLASS.attribute) break;
      this.applyAttribute(entry, next);
      pos = next.end;
    }
    this.finishEntry(entry);
    return { entry, end: pos };
  }

  decodeEntry(rec: RawRecord, parentPath: Uint8Array | null): ArchiveEntry {
    try {
      return decodeEntryBody(rec.tag, rec.body, rec.offset, parentPath);
    } catch (e) {
      throw metaError(rec.offset, `entry${parentPath ? ` in ${formatPath(parentPath)}` : ""}: ${(e as Error).message}`);
    }
  }

  /** Attaches an attribute record to its entry; unknown attribute kinds are skipped. */
  applyAttribute(entry: ArchiveEntry, rec: RawRecord): void {
    try {
      if (rec.tag === TAG.xattr) entry.xattrs.push(decodeXattr(rec.body));
      else if (rec.tag === TAG.sparse) {
        if (!entry.file) throw new Error("sparse map on an entry that is not a regular file");
        entry.file.extents = decodeSparse(rec.body);
      }
    } catch (e) {
      throw metaError(rec.offset, `${formatPath(entry.path)}: ${(e as Error).message}`);
    }
  }

  /** Cross-field checks once all attributes are known. */
  finishEntry(entry: ArchiveEntry): void {
    const f = entry.file;
    if (!f) {
      if (entry.kind === "hardlink" && (entry.hardlink!.targetOffset >= entry.offset || entry.hardlink!.targetOffset === 0)) {
        throw metaError(entry.offset, `${formatPath(entry.path)}: hardlink target offset ${entry.hardlink!.targetOffset} does not point back`);
      }
      return;
    }
    try {
      if (f.extents) checkExtents(f.extents, entry.size, f.payloadLength);
      else if (f.payloadLength !== entry.size) throw new Error(`payload length ${f.payloadLength} != size ${entry.size}`);
      if (f.payloadLength > 0 && f.payloadOffset + PAYLOAD_HEADER_SIZE + f.payloadLength > this.trailer.payloadLength) {
        throw new Error(`payload [${f.payloadOffset}, +${f.payloadLength}) lies beyond the payload stream (${this.trailer.payloadLength} bytes)`);
      }
    } catch (e) {
      throw metaError(entry.offset, `${formatPath(entry.path)}: ${(e as Error).message}`);
    }
  }

  /** The goodbye table (children in name order) of the directory whose DIR_END is at `dirEnd`. */
  async goodbye(dirEnd: number, dirOffset?: number): Promise<GoodbyeItem[]> {
    const cached = this.goodbyeCache.get(dirEnd);
    if (cached) return cached;
    const rec = await this.readRecordAt(dirEnd, "goodbye table");
    if (rec.tag !== TAG.dirEnd) throw metaError(dirEnd, `expected a goodbye table, found tag 0x${rec.tag.toString(16)}`);
    let t: { dirOffset: number; items: GoodbyeItem[] };
    try {
      t = decodeDirEnd(rec.body);
    } catch (e) {
      throw metaError(dirEnd, `goodbye table: ${(e as Error).message}`);
    }
    if (dirOffset !== undefined && t.dirOffset !== dirOffset) {
      throw metaError(dirEnd, `goodbye table belongs to the directory at ${t.dirOffset}, expected ${dirOffset}`);
    }
    for (const it of t.items) {
      if (it.start <= t.dirOffset || it.start >= dirEnd || (it.dirEnd !== 0 && (it.dirEnd <= it.start || it.dirEnd >= dirEnd))) {
        throw metaError(dirEnd, `goodbye table has a child offset ${it.start}/${it.dirEnd} outside its directory`);
      }
    }
    if (this.goodbyeCache.size > 256) this.goodbyeCache.clear();
    this.goodbyeCache.set(dirEnd, t.items);
    return t.items;
  }

  async root(): Promise<ArchiveEntry> {
    const { entry } = await this.readEntryAt(this.trailer.rootOffset, null);
    if (entry.kind !== "dir" || entry.name.byteLength !== 0) throw metaError(entry.offset, "the root entry is not a directory with an empty name");
    entry.dirEndOffset = this.trailer.rootEndOffset;
    return entry;
  }

  /** Children of a directory entry (from root(), lookup() or readDir()), via its goodbye table. */
  async readDir(dir: ArchiveEntry): Promise<ArchiveEntry[]> {
    if (dir.kind !== "dir") throw new ArchiveFormatError(`${formatPath(dir.path)} is not a directory`);
    if (dir.dirEndOffset === undefined) throw new Error(`readDir: ${formatPath(dir.path)} has no known goodbye table; get it from root(), lookup() or readDir()`);
    const out: ArchiveEntry[] = [];
    for (const it of await this.goodbye(dir.dirEndOffset, dir.offset)) {
      if (!TAG_KIND.has((await this.readRecordAt(it.start, "entry")).tag)) continue; // unknown kind: skipped
      const { entry } = await this.readEntryAt(it.start, dir.path);
      if (entry.kind === "dir") entry.dirEndOffset = it.dirEnd;
      out.push(entry);
    }
    return out;
  }

  /** Finds one path by binary search through the goodbye tables (O(depth · log n) reads). */
  async lookup(path: string | Uint8Array): Promise<ArchiveEntry | undefined> {
    let cur = await this.root();
    for (const comp of splitPath(toPathBytes(path))) {
      if (cur.kind !== "dir") return undefined;
      const items = await this.goodbye(cur.dirEndOffset!, cur.offset);
      let lo = 0;
      let hi = items.length - 1;
      let found: ArchiveEntry | undefined;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const rec = await this.readRecordAt(items[mid].start, "entry");
        const c = Buffer.compare(entryName(rec), comp);
        if (c === 0) {
          if (!TAG_KIND.has(rec.tag)) return undefined; // a kind this reader does not know
          const { entry } = await this.readEntryAt(items[mid].start, cur.path);
          if (entry.kind === "dir") entry.dirEndOffset = items[mid].dirEnd;
          found = entry;
          break;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
      }
      if (!found) return undefined;
      cur = found;
    }
    return cur;
  }

  /** The entry a hardlink points to (its path is the path recorded in the link). */
  async resolveHardlink(link: ArchiveEntry): Promise<ArchiveEntry> {
    if (link.kind !== "hardlink") return link;
    const { entry } = await this.readEntryAt(link.hardlink!.targetOffset, null);
    entry.path = link.hardlink!.targetPath;
    if (entry.kind === "hardlink" || entry.kind === "dir") {
      throw metaError(link.offset, `${formatPath(link.path)}: hardlink points at a ${entry.kind} entry`);
    }
    const tname = splitPath(entry.path).pop() ?? new Uint8Array(0);
    if (!bytesEqual(tname, entry.name)) {
      throw metaError(link.offset, `${formatPath(link.path)}: hardlink target ${formatPath(link.hardlink!.targetPath)} does not match the entry at ${link.hardlink!.targetOffset}`);
    }
    return entry;
  }

  /** Sequential scan of the metadata stream with full structural checks (see scanner.ts). */
  scan(): MetadataScanner {
    return new MetadataScanner(this);
  }

  /** Every entry in archive order. Reaching the end verifies the stream checksum and entry count. */
  async *entries(): AsyncGenerator<ArchiveEntry> {
    const s = this.scan();
    for (let ev = await s.next(); ev; ev = await s.next()) if (ev.type === "entry") yield ev.entry;
  }

  /**
   * A regular file's stored data as (file offset, bytes) pieces in file order; holes are not
   * produced. The SHA-256 is checked before the last piece is handed out, so a consumer that
   * writes every piece it receives never finishes a file with unverified content. With
   * `verify: false` the consumer checks it instead (extraction hashes on its writer threads).
   */
  async *fileData(entry: ArchiveEntry, opts: { verify?: boolean } = {}): AsyncGenerator<{ offset: number; bytes: Uint8Array }> {
    const verify = opts.verify ?? true;
    const target = await this.resolveHardlink(entry);
    const f = target.file;
    if (!f) throw new ArchiveFormatError(`${formatPath(entry.path)} is a ${target.kind}, not a regular file`);
    // Built only for an error: formatting every restored file's path cost a few percent.
    const where = () => `${formatPath(entry.path)}: payload record at offset ${f.payloadOffset}`;
    if (f.payloadLength === 0) {
      if (!bytesEqual(f.sha256, EMPTY_SHA256)) throw new ArchiveFormatError(`${formatPath(entry.path)}: empty content but a non-empty SHA-256 recorded`);
      return;
    }
    const head = await this.payload.read(f.payloadOffset, PAYLOAD_HEADER_SIZE);
    if (head.byteLength !== PAYLOAD_HEADER_SIZE) throw new ArchiveFormatError(`${where()}: header truncated`);
    const h = decodePayloadHeader(head);
    if (!bytesEqual(h.magic, MAGIC.payloadFile)) throw new ArchiveFormatError(`${where()}: no file header there (magic ${hex(h.magic)}); payload stream damaged or offsets wrong`);
    if (h.length !== f.payloadLength) throw new ArchiveFormatError(`${where()}: header says ${h.length} bytes, metadata says ${f.payloadLength}`);
    const extents = f.extents ?? [{ offset: 0, length: target.size }];
    const hasher = verify ? new Bun.CryptoHasher("sha256") : undefined;
    let pos = f.payloadOffset + PAYLOAD_HEADER_SIZE;
    let held: { offset: number; bytes: Uint8Array } | undefined;
    const payload = this.payload;
    for (const x of extents) {
      for (let done = 0; done < x.length; ) {
        const n = Math.min(PIECE, x.length - done);
        // Views of whole chunks where the source offers them, rather than copies across chunks.
        const bytes = payload.readSome ? await payload.readSome(pos, n) : await payload.read(pos, n);
        if (bytes.byteLength === 0 || (!payload.readSome && bytes.byteLength !== n)) {
          throw new ArchiveFormatError(`${where()}: payload stream ends at ${pos + bytes.byteLength}, inside the file`);
        }
        const piece = { offset: x.offset + done, bytes };
        if (!hasher) yield piece;
        else {
          hasher.update(bytes);
          if (held) yield held;
          held = piece;
        }
        pos += bytes.byteLength;
        done += bytes.byteLength;
      }
    }
    if (!hasher) return;
    const got = hasher.digest() as Uint8Array;
    if (!bytesEqual(got, f.sha256)) {
      throw new ArchiveFormatError(`${where()}: content SHA-256 mismatch (metadata ${hex(f.sha256).slice(0, 16)}…, payload ${hex(got).slice(0, 16)}…)`);
    }
    if (held) yield held;
  }

  /** A regular file's logical content (holes as zeros), in pieces of at most 1 MiB. */
  async *fileContent(entry: ArchiveEntry): AsyncGenerator<Uint8Array> {
    const target = await this.resolveHardlink(entry);
    let pos = 0;
    const zeros = function* (upTo: number) {
      while (pos < upTo) {
        const n = Math.min(PIECE, upTo - pos);
        pos += n;
        yield new Uint8Array(n);
      }
    };
    for await (const piece of this.fileData(entry)) {
      yield* zeros(piece.offset);
      yield piece.bytes;
      pos = piece.offset + piece.bytes.byteLength;
    }
    yield* zeros(target.size);
  }

  /**
   * Walks the payload stream on its own: START, FILE and GAP records, TAIL; checks the counts in
   * the tail. Content is checked by fileData (the hashes live in the metadata).
   */
  async checkPayload(): Promise<{ fileRecords: number; gapRecords: number; gapBytes: number }> {
    const tailAt = this.payload.size - PAYLOAD_HEADER_SIZE - PAYLOAD_TAIL_BODY_SIZE;
    let pos = PAYLOAD_HEADER_SIZE + PAYLOAD_START_BODY_SIZE;
    const seen = { fileRecords: 0, gapRecords: 0, gapBytes: 0 };
    while (pos < tailAt) {
      const h = decodePayloadHeader(await readExact(this.payload, pos, PAYLOAD_HEADER_SIZE, "payload record header"));
      const next = pos + PAYLOAD_HEADER_SIZE + h.length;
      if (next > tailAt) throw payloadError(pos, `record of ${h.length} bytes runs past the tail at ${tailAt}`);
      if (bytesEqual(h.magic, MAGIC.payloadFile)) seen.fileRecords++;
      else if (bytesEqual(h.magic, MAGIC.payloadGap)) {
        seen.gapRecords++;
        seen.gapBytes += h.length;
      } else throw payloadError(pos, `unknown record magic ${hex(h.magic)}`);
      pos = next;
    }
    if (pos !== tailAt) throw payloadError(pos, "records do not end at the tail");
    const tail = decodePayloadTail(await readExact(this.payload, tailAt + PAYLOAD_HEADER_SIZE, PAYLOAD_TAIL_BODY_SIZE, "payload tail"));
    if (tail.fileRecords !== seen.fileRecords || tail.gapRecords !== seen.gapRecords || tail.gapBytes !== seen.gapBytes) {
      throw payloadError(tailAt, `tail counts ${JSON.stringify(tail)} differ from the records found ${JSON.stringify(seen)}`);
    }
    return seen;
  }
}

/** The name every entry record body starts with (u16 length, bytes), whatever its kind. */
function entryName(rec: RawRecord): Uint8Array {
  if (tagClass(rec.tag) !== TAG_CLASS.entry) throw metaError(rec.offset, `expected an entry record, found tag 0x${rec.tag.toString(16)}`);
  try {
    const r = new ByteReader(rec.body);
    return r.bytes(r.u16("name length"), "name");
  } catch (e) {
    throw metaError(rec.offset, (e as Error).message);
  }
}

function payloadError(offset: number, msg: string): ArchiveFormatError {
  return new ArchiveFormatError(`payload stream offset ${offset}: ${msg}`);
}

async function readExact(src: RandomAccess, offset: number, n: number, what: string): Promise<Uint8Array> {
  const b = await src.read(offset, n);
  if (b.byteLength !== n) throw payloadError(offset, `${what} truncated (stream is ${src.size} bytes)`);
  return b;
}

async function checkPayloadEnds(payload: RandomAccess, archiveId: Uint8Array, expectedLength: number): Promise<void> {
  if (payload.size !== expectedLength) {
    throw new ArchiveFormatError(`payload stream is ${payload.size} bytes but the metadata trailer says ${expectedLength} (truncated, or not this archive's payload)`);
  }
  const start = await readExact(payload, 0, PAYLOAD_HEADER_SIZE + PAYLOAD_START_BODY_SIZE, "payload start");
  const h = decodePayloadHeader(start.subarray(0, PAYLOAD_HEADER_SIZE));
  if (!bytesEqual(h.magic, MAGIC.payloadStart) || h.length !== PAYLOAD_START_BODY_SIZE) {
    throw payloadError(0, "not an IBS archive payload stream (bad start record)");
  }
  const id = start.subarray(PAYLOAD_HEADER_SIZE + 8);
  if (!bytesEqual(id, archiveId)) {
    throw payloadError(0, `payload stream belongs to archive ${hex(id)}, metadata to ${hex(archiveId)}`);
  }
  const tailAt = payload.size - PAYLOAD_HEADER_SIZE - PAYLOAD_TAIL_BODY_SIZE;
  const t = decodePayloadHeader(await readExact(payload, tailAt, PAYLOAD_HEADER_SIZE, "payload tail"));
  if (!bytesEqual(t.magic, MAGIC.payloadTail) || t.length !== PAYLOAD_TAIL_BODY_SIZE) throw payloadError(tailAt, "no payload tail at the end (truncated?)");
}

/** One entry as a `ls -l`-like line, for listings. */
export function describeEntry(e: ArchiveEntry): string {
  const t = { dir: "d", file: "-", symlink: "l", hardlink: "h", chr: "c", blk: "b", fifo: "p", socket: "s" }[e.kind];
  const perms = (e.mode & 0o7777).toString(8).padStart(4, "0");
  const extra = e.symlinkTarget ? ` -> ${formatPath(e.symlinkTarget)}` : e.hardlink ? ` link to ${formatPath(e.hardlink.targetPath)}` : "";
  return `${t} ${perms} ${e.uid}/${e.gid} ${e.size} ${formatPath(e.path)}${extra}`;
}

