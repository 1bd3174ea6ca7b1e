/**
 * Chunk digests: the name of a chunk is SHA-256 of its plaintext (unencrypted store) or
 * HMAC-SHA256(digestKey, plaintext) (encrypted store; the keyring's stable "id key", so dedup
 * survives data-key rotation). Hex is lowercase, 64 characters.
 */

import { timingSafeEqual } from "node:crypto";

const HEX_DIGEST = /^[0-9a-f]{64}$/;

export function sha256(data: Uint8Array): Uint8Array {
  return new Bun.CryptoHasher("sha256").update(data).digest() as Uint8Array;
}

export function sha256Hex(data: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Bun.CryptoHasher("sha256", key).update(data).digest() as Uint8Array;
}

export function hmacSha256Hex(key: Uint8Array, data: Uint8Array): string {
  return new Bun.CryptoHasher("sha256", key).update(data).digest("hex");
}

/** The chunk digest (hex) of `plaintext`: keyed when a digest key is given. */
export function chunkDigest(plaintext: Uint8Array, digestKey?: Uint8Array): string {
  return digestKey ? hmacSha256Hex(digestKey, plaintext) : sha256Hex(plaintext);
}

export function isHexDigest(value: string): boolean {
  return HEX_DIGEST.test(value);
}

export function digestToBytes(hex: string): Uint8Array {
  if (!isHexDigest(hex)) throw new TypeError(`not a 64-hex-digit digest: '${hex}'`);
  return new Uint8Array(Buffer.from(hex, "hex"));
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Short form for messages: "ab12cd34…". */
export function shortDigest(hex: string): string {
  return hex.length > 12 ? `${hex.slice(0, 12)}…` : hex;
}

/** Constant-time equality for MACs and digests. */
export function timingSafeEqualBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
