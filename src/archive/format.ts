/**
 * The `.ibsar` file-tree archive format: constants, record framing and the shared entry types.
 * The layout is described in docs/archive-format.md; keep the two in step.
 *
 * Two streams make one archive (the model is PBS's split pxar):
 * - the METADATA stream: framed records (tag u32, body length u32, CRC32 u32, body), entries in
 *   depth-first order with byte-sorted names, each directory closed by a goodbye table;
 * - the PAYLOAD stream: file contents, each preceded by a 16-byte header (magic u64, length u64).
 */
import { IbsError } from "../util/errors.ts";
import type { EntryStat } from "./records.ts";

export const FORMAT_VERSION = 1;

/** First 8 bytes of SHA-256 of a version string, as PBS does; test/unit/archive recomputes them. */
export const MAGIC = {
  /** "IBS archive metadata stream v1" */
  metadata: Uint8Array.of(144, 151, 117, 18, 22, 29, 205, 153),
  /** "IBS archive metadata trailer v1" */
  trailer: Uint8Array.of(101, 115, 123, 212, 91, 95, 177, 200),
  /** "IBS archive payload start v1" */
  payloadStart: Uint8Array.of(149, 89, 15, 53, 125, 69, 180, 194),
  /** "IBS archive payload file v1" */
  payloadFile: Uint8Array.of(133, 162, 244, 195, 65, 220, 199, 116),
  /** "IBS archive payload gap v1" */
  payloadGap: Uint8Array.of(84, 87, 247, 191, 192, 227, 144, 243),
  /** "IBS archive payload tail v1" */
  payloadTail: Uint8Array.of(37, 40, 112, 79, 32, 165, 80, 242),
} as const;

/**
 * Record tags. The high byte is the class, which tells an old reader what to do with a tag it
 * does not know: class 0x00 (stream structure) is fatal, class 0x01 (an entry) is skipped with
 * its attributes, class 0x02 (an attribute of the preceding entry) is skipped alone.
 */
export const TAG = {
  header: 0x0001,
  trailer: 0x0002,
  dirEnd: 0x0003,
  dir: 0x0101,
  file: 0x0102,
  symlink: 0x0103,
  hardlink: 0x0104,
  chr: 0x0105,
  blk: 0x0106,
  fifo: 0x0107,
  socket: 0x0108,
  xattr: 0x0201,
  sparse: 0x0202,
} as const;

export const TAG_CLASS = { structure: 0x00, entry: 0x01, attribute: 0x02 } as const;
export const tagClass = (tag: number): number => (tag >>> 8) & 0xff;

export type EntryKind = "dir" | "file" | "symlink" | "hardlink" | "chr" | "blk" | "fifo" | "socket";

export const KIND_TAG: Record<EntryKind, number> = {
  dir: TAG.dir,
  file: TAG.file,
  symlink: TAG.symlink,
  hardlink: TAG.hardlink,
  chr: TAG.chr,
  blk: TAG.blk,
  fifo: TAG.fifo,
  socket: TAG.socket,
};
export const TAG_KIND = new Map<number, EntryKind>(Object.entries(KIND_TAG).map(([k, t]) => [t, k as EntryKind]));

/** st_mode file-type bits (Linux). */
export const S_IFMT = 0o170000;
export const S_IF = {
  dir: 0o040000,
  file: 0o100000,
  symlink: 0o120000,
  chr: 0o020000,
  blk: 0o060000,
  fifo: 0o010000,
  socket: 0o140000,
} as const;

/** Entry flags (u32 in every entry record). */
export const FLAG = {
  /** Non-directory with nlink > 1: later HARDLINK entries may point at this one. */
  hardlinkTarget: 1,
  /** Directory on another filesystem whose contents were not archived (one-file-system). */
  mountPoint: 2,
} as const;

/** Record header: tag u32 | body length u32 | CRC32(tag, length, body) u32, little endian. */
export const RECORD_HEADER_SIZE = 12;
/** Payload header: magic[8] | length u64. */
export const PAYLOAD_HEADER_SIZE = 16;
export const HEADER_BODY_SIZE = 8 + 4 + 4 + 16;
export const TRAILER_BODY_SIZE = 8 * 4 + 32 + 8;
export const TRAILER_RECORD_SIZE = RECORD_HEADER_SIZE + TRAILER_BODY_SIZE;
export const PAYLOAD_START_BODY_SIZE = 4 + 4 + 16;
export const PAYLOAD_TAIL_BODY_SIZE = 24;
/** Bodies above this are treated as corruption rather than allocated. */
export const MAX_RECORD_BODY = 1 << 30;

/** A data range of a sparse file: `length` stored bytes belong at `offset` in the file. */
export interface Extent {
  offset: number;
  length: number;
}

/** Where and what a regular file's content is. */
export interface FileContentRef {
  /** Offset of the FILE payload header in the payload stream (0 and unused when payloadLength is 0). */
  payloadOffset: number;
  /** Bytes stored in the payload record (= size unless sparse). */
  payloadLength: number;
  /** SHA-256 of the stored bytes (the data extents concatenated). */
  sha256: Uint8Array;
  /** Data extents for sparse files; absent means one extent [0, size). */
  extents?: Extent[];
}

export interface ArchiveEntry extends EntryStat {
  kind: EntryKind;
  /** Path relative to the archive root, components joined by "/"; the root is empty. Raw bytes. */
  path: Uint8Array;
  name: Uint8Array;
  /** Offset of the entry record in the metadata stream. */
  offset: number;
  /** Regular file: logical size; symlink: target length; hardlink: size of the target. */
  size: number;
  xattrs: Array<[name: Uint8Array, value: Uint8Array]>;
  file?: FileContentRef;
  symlinkTarget?: Uint8Array;
  device?: { major: number; minor: number };
  hardlink?: { targetOffset: number; targetPath: Uint8Array };
  /** Offset of this directory's DIR_END record, when known (root, lookup, readDir). */
  dirEndOffset?: number;
}

/** A corrupt, truncated or foreign stream. Always names the stream and the offset. */
export class ArchiveFormatError extends IbsError {
  constructor(message: string) {
    super(message, 1, "the archive streams are damaged or do not belong together; restore from another snapshot or run verify");
    this.name = "ArchiveFormatError";
  }
}

export function metaError(offset: number, msg: string): ArchiveFormatError {
  return new ArchiveFormatError(`metadata stream offset ${offset}: ${msg}`);
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/** glibc's dev_t encoding (gnu_dev_major/minor/makedev). */
export function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n));
}
export function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n));
}
export function makeDev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}
