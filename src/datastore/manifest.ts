/**
 * Snapshot manifest (`index.json.blob`): JSON listing every file of the snapshot with size,
 * SHA-256 and crypt mode, stored as a zstd blob, never encrypted (the server must read it).
 * When the snapshot is encrypted or signed, the manifest carries the key fingerprint and an
 * HMAC-SHA256 signature over the canonical JSON of everything except `signature` and
 * `unprotected`. `unprotected` holds what the server changes later without the key
 * (verify state, notes, upload stats). Format in docs/formats.md.
 */
import { z } from "zod";
import { decodeBlob, encodeBlob, BlobError } from "./blob.ts";
import { canonicalJson } from "./canonical-json.ts";
import { hmacSha256Hex, sha256Hex, timingSafeEqualBytes } from "./digest.ts";
import { CorruptError, DatastoreError } from "./errors.ts";
import { isBackupType, parseBackupTime, type SnapshotRef, validateArchiveFilename, validateBackupId } from "./snapshot-path.ts";

export const MANIFEST_VERSION = 1;

export const CRYPT_MODES = ["none", "encrypt", "sign-only"] as const;
export type CryptMode = (typeof CRYPT_MODES)[number];

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits");

const fileSchema = z.strictObject({
  filename: z.string().refine((n) => safe(() => validateArchiveFilename(n)), "invalid archive file name"),
  size: z.number().int().nonnegative(),
  csum: hex64,
  crypt_mode: z.enum(CRYPT_MODES),
});

const verifyStateSchema = z.strictObject({
  state: z.enum(["ok", "failed"]),
  upid: z.string().optional(),
  /** Unix seconds when verify finished. */
  time: z.number().int().optional(),
});

const unprotectedSchema = z
  .object({
    verify_state: verifyStateSchema.optional(),
    notes: z.string().optional(),
    upload_stats: z
      .strictObject({ chunk_count: z.number().int(), size: z.number().int(), compressed_size: z.number().int(), duplicates: z.number().int() })
      .optional(),
  })
  .catchall(z.unknown()); // newer servers may add fields; keep them when rewriting

const manifestSchema = z.strictObject({
  manifest_version: z.literal(MANIFEST_VERSION),
  backup_type: z.string().refine(isBackupType, "expected vm, ct or host"),
  backup_id: z.string().refine((id) => safe(() => validateBackupId(id)), "invalid backup id"),
  backup_time: z.string().refine((t) => safe(() => parseBackupTime(t)), "expected RFC 3339 UTC time"),
  files: z.array(fileSchema),
  key_fingerprint: z.string().min(1).max(200).optional(),
  signature: hex64.optional(),
  unprotected: unprotectedSchema,
});

export type ManifestFile = z.infer<typeof fileSchema>;
export type VerifyState = z.infer<typeof verifyStateSchema>;
export type Unprotected = z.infer<typeof unprotectedSchema>;
export type Manifest = z.infer<typeof manifestSchema>;

/** Size and SHA-256 of a stored file as the manifest records them. */
export function describeFile(filename: string, bytes: Uint8Array, cryptMode: CryptMode): ManifestFile {
  return { filename: validateArchiveFilename(filename), size: bytes.length, csum: sha256Hex(bytes), crypt_mode: cryptMode };
}

export interface NewManifest {
  snapshot: Pick<SnapshotRef, "type" | "id" | "time">;
  files: ManifestFile[];
  keyFingerprint?: string;
  unprotected?: Unprotected;
}

/**
 * Builds a manifest; signs it when `signKey` (the keyring's HMAC key) is given. A manifest
 * listing encrypted or signed files must be signed and name its key fingerprint.
 */
export function createManifest(input: NewManifest, signKey?: Uint8Array): Manifest {
  const names = new Set<string>();
  for (const f of input.files) {
    if (names.has(f.filename)) throw new DatastoreError(`manifest: file '${f.filename}' is listed twice`);
    names.add(f.filename);
  }
  const needsKey = input.files.some((f) => f.crypt_mode !== "none");
  if (needsKey && (!signKey || !input.keyFingerprint)) {
    throw new DatastoreError("manifest: encrypted or signed files need a key fingerprint and the signing key");
  }
  const manifest: Manifest = manifestSchema.parse({
    manifest_version: MANIFEST_VERSION,
    backup_type: input.snapshot.type,
    backup_id: input.snapshot.id,
    backup_time: input.snapshot.time,
    files: [...input.files].sort((a, b) => (a.filename < b.filename ? -1 : 1)),
    key_fingerprint: input.keyFingerprint,
    unprotected: input.unprotected ?? {},
  });
  if (signKey) manifest.signature = manifestSignature(manifest, signKey);
  return manifest;
}

/** Hex HMAC-SHA256 over the canonical JSON of the manifest without `unprotected` and `signature`. */
export function manifestSignature(manifest: Manifest, key: Uint8Array): string {
  const { unprotected: _u, signature: _s, ...signed } = manifest;
  return hmacSha256Hex(key, new TextEncoder().encode(canonicalJson(signed)));
}

/** Throws unless the manifest carries a signature that `key` produced. */
export function verifyManifestSignature(manifest: Manifest, key: Uint8Array, name = "manifest"): void {
  if (!manifest.signature) throw new CorruptError(`${name}: not signed, but a signature was required`);
  const expected = Buffer.from(manifestSignature(manifest, key), "hex");
  if (!timingSafeEqualBytes(expected, Buffer.from(manifest.signature, "hex"))) {
    throw new CorruptError(`${name}: signature does not match (wrong key, or the manifest was altered)`);
  }
}

export function encodeManifest(manifest: Manifest): Uint8Array {
  manifestSchema.parse(manifest);
  return encodeBlob(new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n"));
}

/** Decodes and validates `index.json.blob`; `name` (its path) appears in errors. */
export function decodeManifest(bytes: Uint8Array, name: string): Manifest {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(decodeBlob(bytes, { name }));
  } catch (err) {
    if (err instanceof BlobError) throw err;
    throw new CorruptError(`${name}: manifest is not UTF-8 text`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CorruptError(`${name}: manifest is not valid JSON (${(err as Error).message})`);
  }
  const version = (json as { manifest_version?: unknown } | null)?.manifest_version;
  if (typeof version === "number" && version > MANIFEST_VERSION) {
    throw new CorruptError(`${name}: manifest version ${version} was written by a newer ironcore-backup (this one reads ${MANIFEST_VERSION})`, "upgrade ironcore-backup");
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CorruptError(`${name}: manifest field '${issue.path.join(".") || "(root)"}' is invalid: ${issue.message}`);
  }
  return parsed.data;
}

function safe(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}
