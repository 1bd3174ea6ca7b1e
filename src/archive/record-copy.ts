/**
 * Copying an unchanged file's metadata records from the previous stream instead of encoding
 * them again: the previous entry record and its attribute records (xattrs, sparse map) hold
 * exactly the bytes encodeEntryBody/encodeXattr/encodeSparse would produce for the same file,
 * except the payload offset, which is patched (and the entry record's CRC recomputed).
 *
 * "The same file" is what change detection established (size, mtime, ctime, inode) plus the
 * fields checked here (flags, mode, uid, gid): a chmod or chown moves ctime, so they agree in
 * practice, but when they do not the caller encodes the entry as usual.
 */
import { RECORD_HEADER_SIZE, TAG } from "./format.ts";
import { ENTRY_FIELD, FILE_FIELD, recordCrcAt } from "./records.ts";

/**
 * `records`: a FILE entry record followed by its attribute records, framed, owned by the caller
 * (patched in place). Returns them with `payloadOffset` written in, or undefined when the
 * record's flags, mode, uid or gid differ from the given ones (encode instead). Byte arithmetic,
 * no DataView: called for every unchanged file.
 */
export function patchCopiedFileRecord(records: Uint8Array, flags: number, mode: number, uid: number, gid: number, payloadOffset: number): Uint8Array | undefined {
  if (u32(records, 0) !== TAG.file) return undefined;
  const at = fieldsAt(records);
  if (u32(records, at + ENTRY_FIELD.flags) !== flags || u32(records, at + ENTRY_FIELD.mode) !== mode || u32(records, at + ENTRY_FIELD.uid) !== uid || u32(records, at + ENTRY_FIELD.gid) !== gid) return undefined;
  const lo = payloadOffset % 0x100000000;
  putU32(records, at + FILE_FIELD.payloadOffset, lo);
  putU32(records, at + FILE_FIELD.payloadOffset + 4, (payloadOffset - lo) / 0x100000000);
  const end = RECORD_HEADER_SIZE + u32(records, 4);
  putU32(records, 8, entryCrc(records, end));
  return records;
}

/** Where a framed FILE record's SHA-256 starts, or -1 when `records` does not begin with a whole one. */
export function fileRecordSha256At(records: Uint8Array): number {
  if (records.byteLength < RECORD_HEADER_SIZE + 2 || u32(records, 0) !== TAG.file) return -1;
  const at = fieldsAt(records) + FILE_FIELD.sha256;
  return at + 32 <= Math.min(records.byteLength, RECORD_HEADER_SIZE + u32(records, 4)) ? at : -1;
}

/** The SHA-256 inside a framed FILE record (one fileRecordSha256At accepts), as a copy. */
export function fileRecordSha256(records: Uint8Array): Uint8Array {
  const at = fileRecordSha256At(records);
  return records.slice(at, at + 32);
}

/** Where an entry record's fixed fields (ENTRY_FIELD) start: after the header and the name. */
function fieldsAt(records: Uint8Array): number {
  return RECORD_HEADER_SIZE + 2 + (records[RECORD_HEADER_SIZE]! | (records[RECORD_HEADER_SIZE + 1]! << 8));
}

/** Scratch over an ArrayBuffer (single-threaded; filled and hashed without an await between). */
const SCRATCH = new Uint8Array(new ArrayBuffer(64 * 1024));

/**
 * CRC of the entry record (tag and length, then the body) in records[0, end). Hashed from a
 * copy in SCRATCH: views of a small array made by slice() make JSC move its storage into a new
 * ArrayBuffer first (measured 0.4 us a record), views of SCRATCH cost nothing.
 */
function entryCrc(records: Uint8Array, end: number): number {
  if (end > SCRATCH.byteLength) return recordCrcAt(records, 0, end);
  for (let i = 0; i < end; i++) SCRATCH[i] = records[i]!;
  return recordCrcAt(SCRATCH, 0, end);
}

const u32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}
