/**
 * The header shared by fixed (.fidx) and dynamic (.didx) indexes (docs/formats.md "Indexes").
 * 96 bytes, little-endian; entries follow and their SHA-256 is in the header, the header
 * itself has a CRC32, and the file length must match the entry count exactly, so corrupt,
 * truncated and padded files are all refused by name.
 */
import { randomUUID } from "node:crypto";
import { bytesToHex, sha256 } from "./digest.ts";
import { CorruptError } from "./errors.ts";

export const INDEX_HEADER_SIZE = 96;
export const INDEX_VERSION = 1;
export const FIXED_MAGIC = "IBSF";
export const DYNAMIC_MAGIC = "IBSD";
export const FIXED_ENTRY_SIZE = 32;
export const DYNAMIC_ENTRY_SIZE = 40;

export type IndexKind = "fixed" | "dynamic";

export interface IndexHeader {
  kind: IndexKind;
  /** Random id of this index file (hex, 32 digits). */
  uuid: string;
  /** Creation time, unix seconds. */
  ctime: number;
  /** Logical bytes: image size (fixed) or stream length (dynamic). */
  size: number;
  /** Fixed only: bytes per chunk (the last may be shorter). 0 for dynamic. */
  chunkSize: number;
  chunkCount: number;
  /** SHA-256 (hex) of the entry bytes. */
  checksum: string;
}

export interface HeaderFields {
  uuid?: string;
  ctime?: number;
  size: number;
  chunkSize: number;
}

export function newIndexUuid(): string {
  return randomUUID().replaceAll("-", "");
}

/** Builds a complete index file from the header fields and the packed entries. */
export function assembleIndex(kind: IndexKind, fields: HeaderFields, entries: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(INDEX_HEADER_SIZE + entries.length);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(kind === "fixed" ? FIXED_MAGIC : DYNAMIC_MAGIC), 0);
  out[4] = INDEX_VERSION;
  const uuid = fields.uuid ?? newIndexUuid();
  if (!/^[0-9a-f]{32}$/.test(uuid)) throw new TypeError(`index uuid must be 32 hex digits, got '${uuid}'`);
  out.set(Buffer.from(uuid, "hex"), 8);
  view.setBigInt64(24, BigInt(Math.floor(fields.ctime ?? Date.now() / 1000)), true);
  view.setBigUint64(32, BigInt(fields.size), true);
  view.setBigUint64(40, BigInt(fields.chunkSize), true);
  view.setBigUint64(48, BigInt(count), true);
  out.set(sha256(entries), 56);
  view.setUint32(88, Bun.hash.crc32(out.subarray(0, 88)) >>> 0, true);
  out.set(entries, INDEX_HEADER_SIZE);
  return out;
}

/**
 * Checks magic, version, reserved bytes and the header CRC of the first 96 bytes only: what a
 * catalog rebuild needs (logical size, chunk count) without reading every entry.
 */
export function parseIndexHeaderOnly(bytes: Uint8Array, name: string, expect?: IndexKind): IndexHeader {
  if (bytes.length < INDEX_HEADER_SIZE) throw indexCorrupt(name, `truncated: ${bytes.length} bytes, the header alone needs ${INDEX_HEADER_SIZE}`);
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  const kind: IndexKind | undefined = magic === FIXED_MAGIC ? "fixed" : magic === DYNAMIC_MAGIC ? "dynamic" : undefined;
  if (!kind) throw indexCorrupt(name, `wrong magic 0x${Buffer.from(bytes.subarray(0, 4)).toString("hex")}: not an IBS index`);
  if (expect && kind !== expect) throw indexCorrupt(name, `is a ${kind} index, expected a ${expect} index`);
  if (bytes[4] !== INDEX_VERSION) throw indexCorrupt(name, `unsupported index format version ${bytes[4]} (this build reads ${INDEX_VERSION}): upgrade ironcore-backup`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0 || view.getUint32(92, true) !== 0) throw indexCorrupt(name, "reserved header bytes are not zero");
  const storedCrc = view.getUint32(88, true);
  const crc = Bun.hash.crc32(bytes.subarray(0, 88)) >>> 0;
  if (storedCrc !== crc) throw indexCorrupt(name, `header CRC32 mismatch (stored 0x${storedCrc.toString(16)}, computed 0x${crc.toString(16)})`);
  return {
    kind,
    uuid: bytesToHex(bytes.subarray(8, 24)),
    ctime: Number(view.getBigInt64(24, true)),
    size: u64(view, 32, name),
    chunkSize: u64(view, 40, name),
    chunkCount: u64(view, 48, name),
    checksum: bytesToHex(bytes.subarray(56, 88)),
  };
}

/** Parses and checks the header, the file length and the entry checksum. `name` names the file in errors. */
export function parseIndexHeader(bytes: Uint8Array, name: string, expect?: IndexKind): IndexHeader {
  const header = parseIndexHeaderOnly(bytes, name, expect);
  const entrySize = header.kind === "fixed" ? FIXED_ENTRY_SIZE : DYNAMIC_ENTRY_SIZE;
  const expected = INDEX_HEADER_SIZE + header.chunkCount * entrySize;
  if (bytes.length < expected) throw indexCorrupt(name, `truncated: ${bytes.length} bytes, ${header.chunkCount} entries need ${expected}`);
  if (bytes.length > expected) throw indexCorrupt(name, `${bytes.length - expected} unexpected bytes after the last of ${header.chunkCount} entries`);
  const actual = bytesToHex(sha256(bytes.subarray(INDEX_HEADER_SIZE)));
  if (header.checksum !== actual) throw indexCorrupt(name, `entry checksum mismatch (stored ${header.checksum.slice(0, 12)}…, computed ${actual.slice(0, 12)}…)`);
  return header;
}

function indexCorrupt(name: string, why: string): CorruptError {
  return new CorruptError(`index ${name}: ${why}`, "run verify on the snapshot; restore it from a sync copy if verify fails");
}

function u64(view: DataView, offset: number, name: string): number {
  const v = view.getBigUint64(offset, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw indexCorrupt(name, `header value ${v} at offset ${offset} is out of range`);
  return Number(v);
}
