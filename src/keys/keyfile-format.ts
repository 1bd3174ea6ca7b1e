/**
 * The keyfile on disk (JSON, mode 0600), version 1. Documented in docs/keys.md; keep both true.
 *
 *   {
 *     "format": "ironcore-backup keyfile", "version": 1,
 *     "created": RFC3339, "modified": RFC3339,
 *     "fingerprint": "aa:bb:…" (32 bytes),
 *     "kdf": { "type": "scrypt", "n", "r", "p", "salt": b64(32), "check": b64(16) } | { "type": "none" },
 *     "dataKeys": [ { "id": u32, "created": RFC3339, "state": "active" | "retired-pending" } ],
 *     "secret": b64
 *   }
 *
 * `secret` holds the key material as the UTF-8 JSON {"digestKey": b64(32), "dataKeys": [{"id", "key": b64(32)}]}:
 *   - kdf none:   base64 of that JSON, unencrypted (for automation; protect the file itself);
 *   - kdf scrypt: base64 of iv(12) ‖ AES-256-GCM(KEK, iv, aad, JSON) ‖ tag(16), where KEK =
 *     scrypt(passphrase, salt, n, r, p) and aad = canonicalPublicPart(file) below, so every
 *     public field (states, ids, fingerprint, kdf) is authenticated along with the keys.
 */
import { z } from "zod";
import { isFingerprint } from "./fingerprint.ts";

export const KEYFILE_FORMAT = "ironcore-backup keyfile";
export const KEYFILE_VERSION = 1;
export const KEY_BYTES = 32;
export const GCM_IV_BYTES = 12;
export const GCM_TAG_BYTES = 16;
export const SALT_BYTES = 32;

export const DATA_KEY_STATES = ["active", "retired-pending"] as const;
export type DataKeyState = (typeof DATA_KEY_STATES)[number];

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "expected base64");
const timestamp = z.iso.datetime({ offset: true });
const keyId = z.number().int().min(1).max(0xffffffff);

export const dataKeyInfoSchema = z.strictObject({
  id: keyId,
  created: timestamp,
  state: z.enum(DATA_KEY_STATES),
});
export type DataKeyInfo = z.infer<typeof dataKeyInfoSchema>;

export const scryptKdfSchema = z.strictObject({
  type: z.literal("scrypt"),
  n: z.number().int(),
  r: z.number().int(),
  p: z.number().int(),
  salt: base64,
  check: base64,
});
export const kdfSchema = z.discriminatedUnion("type", [scryptKdfSchema, z.strictObject({ type: z.literal("none") })]);
export type KdfConfig = z.infer<typeof kdfSchema>;
export type KdfType = KdfConfig["type"];

export const keyfileSchema = z.strictObject({
  format: z.literal(KEYFILE_FORMAT),
  version: z.literal(KEYFILE_VERSION),
  created: timestamp,
  modified: timestamp,
  fingerprint: z.string().refine(isFingerprint, "expected 32 colon-separated hex bytes"),
  kdf: kdfSchema,
  dataKeys: z.array(dataKeyInfoSchema).min(1),
  secret: base64,
});
export type KeyfileJson = z.infer<typeof keyfileSchema>;

export const secretSchema = z.strictObject({
  digestKey: base64,
  dataKeys: z.array(z.strictObject({ id: keyId, key: base64 })).min(1),
});
export type SecretJson = z.infer<typeof secretSchema>;

/**
 * The associated data for the GCM seal: every field but `secret`, in a fixed order rebuilt
 * from the parsed values (never the raw text), so whitespace or key order in the file do not
 * matter but any changed value does.
 */
export function canonicalPublicPart(file: Omit<KeyfileJson, "secret">): Buffer {
  const kdf =
    file.kdf.type === "scrypt"
      ? { type: "scrypt", n: file.kdf.n, r: file.kdf.r, p: file.kdf.p, salt: file.kdf.salt, check: file.kdf.check }
      : { type: "none" };
  const canonical = {
    format: file.format,
    version: file.version,
    created: file.created,
    modified: file.modified,
    fingerprint: file.fingerprint,
    kdf,
    dataKeys: file.dataKeys.map((k) => ({ id: k.id, created: k.created, state: k.state })),
  };
  return Buffer.from(JSON.stringify(canonical), "utf8");
}

/** Field order used when writing, so files read well and diff cleanly. */
export function serializeKeyfile(file: KeyfileJson): string {
  const { secret, ...pub } = file;
  const ordered = JSON.parse(canonicalPublicPart(pub).toString("utf8"));
  return JSON.stringify({ ...ordered, secret }, null, 2) + "\n";
}
