/**
 * The blob codec (docs/formats.md "Blob"): the one wire/disk format for chunks and small
 * snapshot files. Header: magic "IBSB", version, kind, reserved, CRC32 of everything after
 * byte 12; encrypted kinds add data key id, 96-bit IV and GCM tag before the payload.
 *
 * The codec takes keys as plain data (the keys module builds them from a keyring) and never
 * returns bytes that failed a check: every failure is a BlobError naming the blob and the check.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { IbsError } from "../util/errors.ts";
import { chunkDigest, shortDigest } from "./digest.ts";
import { releaseBuffer, releaseCipherOutput } from "../util/release-buffer.ts";
import { zstdFrameContentSize } from "./zstd-frame.ts";

export { chunkDigest, sha256, sha256Hex, hmacSha256, hmacSha256Hex } from "./digest.ts";

export const BLOB_MAGIC = new Uint8Array([0x49, 0x42, 0x53, 0x42]); // "IBSB"
export const BLOB_VERSION = 1;
export const PLAIN_HEADER_SIZE = 12;
export const ENCRYPTED_HEADER_SIZE = 44;
/** Largest plaintext the decoder will produce unless the caller raises it (PBS caps blobs at 128 MiB). */
export const DEFAULT_MAX_DECODED_SIZE = 128 * 1024 * 1024;

export const BlobKind = { Plain: 0, Zstd: 1, Encrypted: 2, EncryptedZstd: 3 } as const;
export type BlobKind = (typeof BlobKind)[keyof typeof BlobKind];

const KIND_NAMES = ["plain", "zstd", "encrypted", "encrypted+zstd"] as const;

/** Key that seals a blob: the keyring's data key and its id. */
export interface BlobCipher {
  keyId: number;
  key: Uint8Array;
}

/** Finds a data key by id when opening an encrypted blob. */
export type KeyLookup = (keyId: number) => Uint8Array | undefined;

export type BlobFailure =
  | "truncated"
  | "magic"
  | "version"
  | "kind"
  | "reserved"
  | "crc"
  | "key-required"
  | "unknown-key"
  | "auth"
  | "zstd"
  | "too-large"
  | "size"
  | "digest-key-required"
  | "digest";

/** A blob failed a check. `blob` names it (chunk digest or file), `failure` says which check. */
export class BlobError extends IbsError {
  constructor(
    readonly blob: string,
    readonly failure: BlobFailure,
    detail: string,
  ) {
    super(`${blob}: ${detail}`);
    this.name = "BlobError";
  }
}

export interface EncodeOptions {
  /** Try zstd (default true); kept only when smaller than the input. */
  compress?: boolean;
  /** zstd level, default 1. */
  level?: number;
  /** Encrypt with AES-256-GCM under this data key. */
  cipher?: BlobCipher;
}

export function encodeBlob(data: Uint8Array, options: EncodeOptions = {}): Uint8Array {
  let payload = data;
  let compressed = false;
  if (options.compress !== false && data.length > 0) {
    const z = Bun.zstdCompressSync(data, { level: options.level ?? 1 });
    if (z.length < data.length) {
      payload = z;
      compressed = true;
    }
  }
  const cipher = options.cipher;
  if (!cipher) {
    const out = new Uint8Array(PLAIN_HEADER_SIZE + payload.length);
    writeFixedHeader(out, compressed ? BlobKind.Zstd : BlobKind.Plain);
    out.set(payload, PLAIN_HEADER_SIZE);
    sealCrc(out);
    if (compressed) releaseBuffer(payload);
    return out;
  }
  if (cipher.key.length !== 32) throw new TypeError(`data key ${cipher.keyId}: expected 32 bytes, got ${cipher.key.length}`);
  if (!Number.isInteger(cipher.keyId) || cipher.keyId < 0 || cipher.keyId > 0xffffffff) {
    throw new TypeError(`data key id must be a u32, got ${cipher.keyId}`);
  }
  const out = new Uint8Array(ENCRYPTED_HEADER_SIZE + payload.length);
  const view = new DataView(out.buffer);
  writeFixedHeader(out, compressed ? BlobKind.EncryptedZstd : BlobKind.Encrypted);
  view.setUint32(12, cipher.keyId, true);
  const iv = randomBytes(12);
  out.set(iv, 16);
  const gcm = createCipheriv("aes-256-gcm", cipher.key, iv);
  gcm.setAAD(associatedData(out));
  const body = gcm.update(payload);
  out.set(body, ENCRYPTED_HEADER_SIZE);
  // Both are copies made here and used up: freed now rather than at the thread's next collection.
  releaseCipherOutput(body);
  if (compressed) releaseBuffer(payload);
  const tail = gcm.final();
  if (tail.length > 0) out.set(tail, ENCRYPTED_HEADER_SIZE + body.length); // GCM is a stream mode: normally empty
  out.set(gcm.getAuthTag(), 28);
  sealCrc(out);
  return out;
}

export interface BlobHeader {
  kind: BlobKind;
  kindName: (typeof KIND_NAMES)[number];
  encrypted: boolean;
  compressed: boolean;
  /** Data key id for encrypted kinds. */
  keyId?: number;
  payloadOffset: number;
  storedSize: number;
}

/**
 * Checks structure and CRC without decrypting or decompressing: what a server without the
 * key can check (on upload and in verify). Throws BlobError.
 */
export function inspectBlob(bytes: Uint8Array, name = "blob"): BlobHeader {
  if (bytes.length < PLAIN_HEADER_SIZE) {
    throw new BlobError(name, "truncated", `truncated: ${bytes.length} bytes, a blob header needs at least ${PLAIN_HEADER_SIZE}`);
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== BLOB_MAGIC[i]) {
      throw new BlobError(name, "magic", `wrong magic 0x${hex(bytes.subarray(0, 4))} (expected 0x49425342 "IBSB"): not an IBS blob`);
    }
  }
  if (bytes[4] !== BLOB_VERSION) {
    throw new BlobError(name, "version", `unsupported blob format version ${bytes[4]} (this build reads version ${BLOB_VERSION}): upgrade ironcore-backup`);
  }
  const kind = bytes[5]!;
  if (kind > 3) throw new BlobError(name, "kind", `unknown blob kind ${kind} (known: 0 plain, 1 zstd, 2 encrypted, 3 encrypted+zstd)`);
  if (bytes[6] !== 0 || bytes[7] !== 0) {
    throw new BlobError(name, "reserved", `reserved header bytes are 0x${hex(bytes.subarray(6, 8))}, must be zero`);
  }
  const encrypted = kind >= 2;
  const payloadOffset = encrypted ? ENCRYPTED_HEADER_SIZE : PLAIN_HEADER_SIZE;
  if (bytes.length < payloadOffset) {
    throw new BlobError(name, "truncated", `truncated: ${bytes.length} bytes, an encrypted blob header needs ${ENCRYPTED_HEADER_SIZE}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stored = view.getUint32(8, true);
  const computed = Bun.hash.crc32(bytes.subarray(12)) >>> 0;
  if (stored !== computed) {
    throw new BlobError(name, "crc", `CRC32 mismatch (stored 0x${hex32(stored)}, computed 0x${hex32(computed)}): blob is corrupt or truncated`);
  }
  return {
    kind: kind as BlobKind,
    kindName: KIND_NAMES[kind]!,
    encrypted,
    compressed: kind === BlobKind.Zstd || kind === BlobKind.EncryptedZstd,
    keyId: encrypted ? view.getUint32(12, true) : undefined,
    payloadOffset,
    storedSize: bytes.length,
  };
}

export interface DecodeOptions {
  /** Names the blob in errors, e.g. "chunk ab12…" or "vm/100/…/qemu.conf.blob". */
  name?: string;
  /** Data keys for encrypted blobs. */
  keyLookup?: KeyLookup;
  /** When given, the plaintext's digest must equal it (SHA-256, or HMAC with digestKey). */
  expectedDigest?: string;
  /** Id key for keyed digests; required to check the digest of an encrypted blob. */
  digestKey?: Uint8Array;
  /** Refuse to decompress beyond this many bytes (default 128 MiB). */
  maxDecodedSize?: number;
}

/** Decodes a blob to its plaintext, checking in the order the blob spec lists. */
export function decodeBlob(bytes: Uint8Array, options: DecodeOptions = {}): Uint8Array {
  const name = options.name ?? "blob";
  const header = inspectBlob(bytes, name);
  let payload: Uint8Array = bytes.subarray(header.payloadOffset);
  if (header.encrypted) payload = decrypt(bytes, payload, header.keyId!, name, options.keyLookup);
  const plaintext = header.compressed ? decompress(payload, name, options.maxDecodedSize ?? DEFAULT_MAX_DECODED_SIZE) : payload;
  // The decrypted frame, once inflated, is ours alone and used up.
  if (header.encrypted && header.compressed) releaseCipherOutput(payload);
  checkDigest(plaintext, header, name, options);
  return plaintext;
}

/**
 * decodeBlob with the same checks in the same order, but the zstd decompression runs on
 * Bun's thread pool: callers that decode many blobs at once (verify) use both cores.
 */
export async function decodeBlobAsync(bytes: Uint8Array, options: DecodeOptions = {}): Promise<Uint8Array> {
  const name = options.name ?? "blob";
  const header = inspectBlob(bytes, name);
  let payload: Uint8Array = bytes.subarray(header.payloadOffset);
  if (header.encrypted) payload = decrypt(bytes, payload, header.keyId!, name, options.keyLookup);
  let plaintext = payload;
  if (header.compressed) {
    const declared = declaredSize(payload, name, options.maxDecodedSize ?? DEFAULT_MAX_DECODED_SIZE);
    let out: Uint8Array;
    try {
      out = await Bun.zstdDecompress(payload);
    } catch (err) {
      throw new BlobError(name, "zstd", `zstd decompression failed: ${(err as Error).message}`);
    }
    plaintext = checkDecodedSize(out, declared, name);
    if (header.encrypted) releaseCipherOutput(payload);
  }
  checkDigest(plaintext, header, name, options);
  return plaintext;
}

function checkDigest(plaintext: Uint8Array, header: BlobHeader, name: string, options: DecodeOptions): void {
  if (options.expectedDigest === undefined) return;
  if (header.encrypted && !options.digestKey) {
    throw new BlobError(name, "digest-key-required", "cannot check the digest of an encrypted blob without the keyring's digest key");
  }
  const actual = chunkDigest(plaintext, options.digestKey);
  if (actual !== options.expectedDigest.toLowerCase()) {
    throw new BlobError(name, "digest", `digest mismatch (expected ${shortDigest(options.expectedDigest)}, computed ${shortDigest(actual)})`);
  }
}

function decrypt(blob: Uint8Array, ciphertext: Uint8Array, keyId: number, name: string, lookup?: KeyLookup): Uint8Array {
  if (!lookup) throw new BlobError(name, "key-required", `blob is encrypted with data key id ${keyId}; a keyring is needed to read it`);
  const key = lookup(keyId);
  if (!key) throw new BlobError(name, "unknown-key", `blob needs data key id ${keyId} which this keyring lacks`);
  const gcm = createDecipheriv("aes-256-gcm", key, blob.subarray(16, 28));
  gcm.setAAD(associatedData(blob));
  gcm.setAuthTag(blob.subarray(28, 44));
  try {
    const head = gcm.update(ciphertext);
    const tail = gcm.final();
    if (tail.length === 0) return head;
    const joined = Buffer.concat([head, tail]);
    releaseCipherOutput(head);
    return joined;
  } catch {
    throw new BlobError(name, "auth", `authentication failed with data key id ${keyId}: wrong key or tampered data`);
  }
}

function decompress(frame: Uint8Array, name: string, max: number): Uint8Array {
  const declared = declaredSize(frame, name, max);
  let out: Uint8Array;
  try {
    out = Bun.zstdDecompressSync(frame);
  } catch (err) {
    throw new BlobError(name, "zstd", `zstd decompression failed: ${(err as Error).message}`);
  }
  return checkDecodedSize(out, declared, name);
}

/** The frame's declared content size, checked against the limit before anything is inflated. */
function declaredSize(frame: Uint8Array, name: string, max: number): number {
  const declared = zstdFrameContentSize(frame);
  if (typeof declared === "string") throw new BlobError(name, "zstd", `zstd decompression failed: ${declared}`);
  if (declared > max) throw new BlobError(name, "too-large", `declares ${declared} decoded bytes, above the limit of ${max}`);
  return declared;
}

function checkDecodedSize(out: Uint8Array, declared: number, name: string): Uint8Array {
  if (out.length !== declared) {
    throw new BlobError(name, "zstd", `zstd decompression failed: produced ${out.length} bytes, frame declares ${declared}`);
  }
  return out;
}

function writeFixedHeader(out: Uint8Array, kind: BlobKind): void {
  out.set(BLOB_MAGIC, 0);
  out[4] = BLOB_VERSION;
  out[5] = kind;
  out[6] = 0;
  out[7] = 0;
}

/** GCM associated data: header bytes [0,8) then the 4 key-id bytes (binds kind and key id). */
function associatedData(blob: Uint8Array): Uint8Array {
  const ad = new Uint8Array(12);
  ad.set(blob.subarray(0, 8), 0);
  ad.set(blob.subarray(12, 16), 8);
  return ad;
}

function sealCrc(out: Uint8Array): void {
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(8, Bun.hash.crc32(out.subarray(12)) >>> 0, true);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}
