/**
 * The key fingerprint: a public name for a keyring, shown to people, recorded in manifests and
 * registered on the server. It derives from the digest ("id") key only, which never changes,
 * so rotating data keys or changing the passphrase keeps the fingerprint.
 *
 *   fingerprint = SHA-256( HMAC-SHA256(key = digestKey, message = ASCII "IBS keyring fingerprint v1") )
 *
 * shown as the 32 bytes in lowercase hex pairs joined by ":" (95 characters). The inner HMAC
 * is what a chunk digest of that constant would be; the outer SHA-256 keeps the fingerprint
 * from ever equalling a chunk name. Knowing it reveals nothing about the key.
 */
import { createHash, createHmac } from "node:crypto";

export const FINGERPRINT_MESSAGE = "IBS keyring fingerprint v1";
const FINGERPRINT_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){31}$/;

export function computeFingerprint(digestKey: Uint8Array): string {
  const inner = createHmac("sha256", digestKey).update(FINGERPRINT_MESSAGE, "ascii").digest();
  const outer = createHash("sha256").update(inner).digest();
  return formatFingerprint(outer);
}

export function formatFingerprint(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}

export function isFingerprint(value: string): boolean {
  return FINGERPRINT_PATTERN.test(value);
}

/** The first 8 bytes, for narrow tables and log lines ("3f:a2:…"). */
export function shortFingerprint(fingerprint: string): string {
  return fingerprint.slice(0, 23);
}
