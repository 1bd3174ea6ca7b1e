import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import { join } from "node:path";

/** Cheap scrypt cost for tests; one test elsewhere covers the real defaults. */
export const FAST_SCRYPT = { n: 1 << 10, r: 8, p: 1 };

export function tempDir(): string {
  return fs.mkdtempSync(join(os.tmpdir(), "ibs-keys-test-"));
}

/**
 * Seals like the blob codec does (AES-256-GCM, 96-bit IV, key id in the associated data),
 * with node:crypto directly so these tests do not depend on the datastore module.
 */
export function sealWith(keyId: number, key: Uint8Array, plaintext: Uint8Array): { keyId: number; iv: Buffer; body: Buffer; tag: Buffer } {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(keyIdBytes(keyId));
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return { keyId, iv, body, tag: c.getAuthTag() };
}

export function openWith(lookup: (id: number) => Uint8Array | undefined, sealed: ReturnType<typeof sealWith>): Buffer {
  const key = lookup(sealed.keyId);
  if (!key) throw new Error(`blob needs data key id ${sealed.keyId} which this keyring lacks`);
  const d = createDecipheriv("aes-256-gcm", key, sealed.iv);
  d.setAAD(keyIdBytes(sealed.keyId));
  d.setAuthTag(sealed.tag);
  return Buffer.concat([d.update(sealed.body), d.final()]);
}

function keyIdBytes(keyId: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(keyId);
  return b;
}
