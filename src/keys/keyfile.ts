/**
 * Keyfile operations: create, load (unlock), show without unlocking, change the passphrase,
 * rotate the data key, and the two steps of retiring an old data key. The on-disk format is
 * in keyfile-format.ts and docs/keys.md.
 *
 * Invariants every write keeps: the digest key and the fingerprint never change; at least one
 * data key is "active"; data key ids are unique random u32 values (random rather than 1, 2, 3
 * so that two copies of one keyfile rotated independently do not hand out the same id for
 * different keys).
 */
import { createCipheriv, createDecipheriv, randomBytes, randomInt, timingSafeEqual } from "node:crypto";
import { resolve } from "node:path";
import { computeFingerprint } from "./fingerprint.ts";
import { deriveKek, passphraseCheck, SCRYPT_DEFAULTS, scryptParamsProblem, type ScryptParams } from "./kdf.ts";
import { KeyfileError } from "./keyfile-error.ts";
import {
  canonicalPublicPart,
  GCM_IV_BYTES,
  GCM_TAG_BYTES,
  KEY_BYTES,
  KEYFILE_FORMAT,
  KEYFILE_VERSION,
  keyfileSchema,
  SALT_BYTES,
  secretSchema,
  serializeKeyfile,
  type DataKeyInfo,
  type KdfConfig,
  type KdfType,
  type KeyfileJson,
} from "./keyfile-format.ts";
import { readKeyfileText, writeKeyfileText } from "./keyfile-io.ts";
import { Keyring, sealingKeyId, type KeyringInfo } from "./keyring.ts";

export const MIN_PASSPHRASE_LENGTH = 8;

/** The secret half of a keyfile, decoded. */
interface Secrets {
  digestKey: Buffer;
  dataKeys: Map<number, Buffer>;
}

/** What unlocking yields: enough to rewrite the file without asking for the passphrase again. */
interface Unlocked {
  file: KeyfileJson;
  secrets: Secrets;
  /** The KEK and the kdf block it came from (scrypt only), reused when only the keyring changes. */
  kek?: Buffer;
}

export interface NewPassphraseOptions {
  /** "scrypt" (default): protected by the passphrase; "none": key material stored unencrypted. */
  kdf?: KdfType;
  passphrase?: string;
  /** scrypt cost; defaults to SCRYPT_DEFAULTS (N=2^16, r=8, p=1). */
  scrypt?: Partial<ScryptParams>;
}

// ---------------------------------------------------------------------------------------------
// Public operations

export async function createKeyfile(path: string, options: NewPassphraseOptions = {}): Promise<Keyring> {
  path = resolve(path); // absolute in messages and in the info we return
  const now = timestamp();
  const secrets: Secrets = { digestKey: randomBytes(KEY_BYTES), dataKeys: new Map() };
  const id = newKeyId(secrets.dataKeys);
  secrets.dataKeys.set(id, randomBytes(KEY_BYTES));
  const { kdf, kek } = await newKdf(path, options);
  const pub: Omit<KeyfileJson, "secret"> = {
    format: KEYFILE_FORMAT,
    version: KEYFILE_VERSION,
    created: now,
    modified: now,
    fingerprint: computeFingerprint(secrets.digestKey),
    kdf,
    dataKeys: [{ id, created: now, state: "active" }],
  };
  const file = seal(pub, secrets, kek);
  writeKeyfileText(path, serializeKeyfile(file), true);
  return toKeyring(path, file, secrets);
}

/** Unlocks a keyfile. The passphrase is ignored for kdf "none". */
export async function loadKeyfile(path: string, passphrase?: string): Promise<Keyring> {
  path = resolve(path); // absolute in messages and in the info we return
  const { file, secrets } = await unlock(path, passphrase);
  return toKeyring(path, file, secrets);
}

/**
 * The public part of a keyfile, without the passphrase (for `key show`). The fingerprint is
 * as stored; loadKeyfile recomputes and checks it.
 */
export function readKeyfileInfo(path: string): KeyringInfo {
  path = resolve(path); // absolute in messages and in the info we return
  return infoOf(path, parseKeyfile(path));
}

/** Re-wraps the same keys under a new passphrase (new salt, new IV), or switches the kdf. */
export async function changePassphrase(path: string, oldPassphrase: string | undefined, options: NewPassphraseOptions): Promise<KeyringInfo> {
  path = resolve(path); // absolute in messages and in the info we return
  const { file, secrets } = await unlock(path, oldPassphrase);
  const { kdf, kek } = await newKdf(path, options);
  const { secret: _old, ...pub } = file;
  const next = seal({ ...pub, kdf, modified: timestamp() }, secrets, kek);
  writeKeyfileText(path, serializeKeyfile(next), false);
  return infoOf(path, next);
}

/** Adds a new data key and makes it the one that seals new blobs; older keys keep decrypting. */
export async function rotateKeyfile(path: string, passphrase?: string): Promise<{ keyId: number; info: KeyringInfo }> {
  path = resolve(path); // absolute in messages and in the info we return
  const unlocked = await unlock(path, passphrase);
  const now = timestamp();
  const keyId = newKeyId(unlocked.secrets.dataKeys);
  unlocked.secrets.dataKeys.set(keyId, randomBytes(KEY_BYTES));
  const dataKeys: DataKeyInfo[] = [...unlocked.file.dataKeys, { id: keyId, created: now, state: "active" }];
  const next = rewrite(path, unlocked, dataKeys, now);
  return { keyId, info: infoOf(path, next) };
}

/**
 * Retirement, step 1: the key stops sealing and becomes "retired-pending"; it still decrypts
 * until the blobs it sealed are re-encrypted (see docs/keys.md). The last active key cannot
 * be retired: rotate first.
 */
export async function retireDataKey(path: string, passphrase: string | undefined, keyId: number): Promise<KeyringInfo> {
  path = resolve(path); // absolute in messages and in the info we return
  const unlocked = await unlock(path, passphrase);
  const target = findKey(path, unlocked.file, keyId);
  if (target.state === "retired-pending") return infoOf(path, unlocked.file);
  const stillActive = unlocked.file.dataKeys.filter((k) => k.state === "active" && k.id !== keyId);
  if (stillActive.length === 0) {
    throw new KeyfileError("bad-request", `keyfile ${path}: data key ${keyId} is the only active key and cannot be retired`, `run 'ironcore-backup key rotate ${path}' first`);
  }
  const dataKeys = unlocked.file.dataKeys.map((k): DataKeyInfo => (k.id === keyId ? { ...k, state: "retired-pending" } : k));
  return infoOf(path, rewrite(path, unlocked, dataKeys, timestamp()));
}

/**
 * Retirement, step 2: forgets a "retired-pending" key for good. Only call this once no blob
 * sealed by it remains; blobs that still name it can no longer be read with this keyfile.
 */
export async function removeDataKey(path: string, passphrase: string | undefined, keyId: number): Promise<KeyringInfo> {
  path = resolve(path); // absolute in messages and in the info we return
  const unlocked = await unlock(path, passphrase);
  const target = findKey(path, unlocked.file, keyId);
  if (target.state !== "retired-pending") {
    throw new KeyfileError("bad-request", `keyfile ${path}: data key ${keyId} is ${target.state}; only a retired-pending key can be removed`);
  }
  unlocked.secrets.dataKeys.delete(keyId);
  const dataKeys = unlocked.file.dataKeys.filter((k) => k.id !== keyId);
  return infoOf(path, rewrite(path, unlocked, dataKeys, timestamp()));
}

// ---------------------------------------------------------------------------------------------
// Parsing and unlocking

function corrupt(path: string, what: string): KeyfileError {
  return new KeyfileError("corrupt", `keyfile ${path} is corrupt: ${what}`, "restore the keyfile from your backup copy (or paper key)");
}

function parseKeyfile(path: string): KeyfileJson {
  const text = readKeyfileText(path);
  let raw: any;
  try {
    raw = JSON.parse(text);
  } catch {
    throw corrupt(path, "not valid JSON");
  }
  if (typeof raw !== "object" || raw === null || raw.format !== KEYFILE_FORMAT) {
    throw new KeyfileError("corrupt", `${path} is not an ironcore-backup keyfile (no "format": "${KEYFILE_FORMAT}")`);
  }
  if (raw.version !== KEYFILE_VERSION) {
    throw new KeyfileError(
      "unsupported-version",
      `keyfile ${path} has version ${JSON.stringify(raw.version)}, this ironcore-backup reads version ${KEYFILE_VERSION}`,
      "use the ironcore-backup release that wrote it, or a newer one",
    );
  }
  const parsed = keyfileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw corrupt(path, `${issue.path.join(".") || "(top level)"}: ${issue.message}`);
  }
  const file = parsed.data;
  if (file.kdf.type === "scrypt") {
    const problem = scryptParamsProblem(file.kdf);
    if (problem) throw corrupt(path, problem);
    if (b64(file.kdf.salt).length !== SALT_BYTES) throw corrupt(path, `kdf.salt must be ${SALT_BYTES} bytes`);
  }
  const ids = new Set(file.dataKeys.map((k) => k.id));
  if (ids.size !== file.dataKeys.length) throw corrupt(path, "duplicate data key ids");
  if (sealingKeyId(file.dataKeys) === undefined) throw corrupt(path, "no data key is active");
  return file;
}

async function unlock(path: string, passphrase: string | undefined): Promise<Unlocked> {
  const file = parseKeyfile(path);
  const sealed = b64(file.secret);
  let plain: Buffer;
  let kek: Buffer | undefined;
  if (file.kdf.type === "none") {
    plain = sealed;
  } else {
    if (passphrase === undefined || passphrase === "") {
      throw new KeyfileError("passphrase-missing", `keyfile ${path} is protected by a passphrase and none was given`);
    }
    kek = await deriveKek(passphrase, b64(file.kdf.salt), file.kdf);
    const check = b64(file.kdf.check);
    const expected = passphraseCheck(kek);
    if (check.length !== expected.length || !timingSafeEqual(check, expected)) {
      throw new KeyfileError("wrong-passphrase", `wrong passphrase for keyfile ${path}`);
    }
    plain = open(path, file, sealed, kek);
  }
  const secrets = decodeSecrets(path, file, plain);
  const computed = computeFingerprint(secrets.digestKey);
  if (computed !== file.fingerprint) throw corrupt(path, `stored fingerprint ${file.fingerprint} does not match its keys (computed ${computed})`);
  return { file, secrets, kek };
}

function open(path: string, file: KeyfileJson, sealed: Buffer, kek: Buffer): Buffer {
  const tampered = () =>
    new KeyfileError("tampered", `keyfile ${path} was modified or is corrupt: its keyring failed authentication`, "restore the keyfile from your backup copy");
  if (sealed.length < GCM_IV_BYTES + GCM_TAG_BYTES) throw tampered();
  const iv = sealed.subarray(0, GCM_IV_BYTES);
  const tag = sealed.subarray(sealed.length - GCM_TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", kek, iv);
  decipher.setAAD(canonicalPublicPart(file));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(sealed.subarray(GCM_IV_BYTES, sealed.length - GCM_TAG_BYTES)), decipher.final()]);
  } catch {
    throw tampered();
  }
}

function decodeSecrets(path: string, file: KeyfileJson, plain: Buffer): Secrets {
  let raw: unknown;
  try {
    raw = JSON.parse(plain.toString("utf8"));
  } catch {
    throw corrupt(path, "key material is not valid JSON");
  }
  const parsed = secretSchema.safeParse(raw);
  if (!parsed.success) throw corrupt(path, "key material has the wrong shape");
  const digestKey = b64(parsed.data.digestKey);
  if (digestKey.length !== KEY_BYTES) throw corrupt(path, `digest key is not ${KEY_BYTES} bytes`);
  const dataKeys = new Map<number, Buffer>();
  for (const { id, key } of parsed.data.dataKeys) {
    const bytes = b64(key);
    if (bytes.length !== KEY_BYTES) throw corrupt(path, `data key ${id} is not ${KEY_BYTES} bytes`);
    dataKeys.set(id, bytes);
  }
  const listed = file.dataKeys.map((k) => k.id).sort((a, b) => a - b);
  const held = [...dataKeys.keys()].sort((a, b) => a - b);
  if (listed.join(",") !== held.join(",")) throw corrupt(path, `data key ids listed (${listed.join(", ")}) differ from those held (${held.join(", ")})`);
  return { digestKey, dataKeys };
}

// ---------------------------------------------------------------------------------------------
// Writing

async function newKdf(path: string, options: NewPassphraseOptions): Promise<{ kdf: KdfConfig; kek?: Buffer }> {
  const type = options.kdf ?? "scrypt";
  if (type === "none") return { kdf: { type: "none" } };
  if (type !== "scrypt") throw new KeyfileError("bad-request", `keyfile ${path}: unknown kdf '${type}' (expected scrypt or none)`);
  const passphrase = options.passphrase;
  if (passphrase === undefined || passphrase === "") {
    throw new KeyfileError("passphrase-missing", `keyfile ${path}: a passphrase is needed for kdf scrypt`, "give one, or use --kdf none for an unprotected keyfile");
  }
  if ([...passphrase.normalize("NFC")].length < MIN_PASSPHRASE_LENGTH) {
    throw new KeyfileError("passphrase-too-short", `keyfile ${path}: passphrase too short, use at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  const params: ScryptParams = { ...SCRYPT_DEFAULTS, ...options.scrypt };
  const problem = scryptParamsProblem(params);
  if (problem) throw new KeyfileError("bad-request", `keyfile ${path}: ${problem}`);
  const salt = randomBytes(SALT_BYTES);
  const kek = await deriveKek(passphrase, salt, params);
  return {
    kdf: { type: "scrypt", n: params.n, r: params.r, p: params.p, salt: salt.toString("base64"), check: passphraseCheck(kek).toString("base64") },
    kek,
  };
}

/** Writes a changed key list under the same kdf and KEK (a fresh IV; no passphrase prompt). */
function rewrite(path: string, unlocked: Unlocked, dataKeys: DataKeyInfo[], now: string): KeyfileJson {
  const { secret: _old, ...pub } = unlocked.file;
  const next = seal({ ...pub, dataKeys, modified: now }, unlocked.secrets, unlocked.kek);
  writeKeyfileText(path, serializeKeyfile(next), false);
  return next;
}

function seal(pub: Omit<KeyfileJson, "secret">, secrets: Secrets, kek: Buffer | undefined): KeyfileJson {
  // Key material in file order, so the secret lists keys the way the public part does.
  const plain = Buffer.from(
    JSON.stringify({
      digestKey: secrets.digestKey.toString("base64"),
      dataKeys: pub.dataKeys.map((k) => ({ id: k.id, key: secrets.dataKeys.get(k.id)!.toString("base64") })),
    }),
    "utf8",
  );
  if (pub.kdf.type === "none") return { ...pub, secret: plain.toString("base64") };
  if (!kek) throw new Error("internal: scrypt keyfile sealed without a KEK");
  const iv = randomBytes(GCM_IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", kek, iv);
  cipher.setAAD(canonicalPublicPart(pub));
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  plain.fill(0);
  return { ...pub, secret: Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64") };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function toKeyring(path: string, file: KeyfileJson, secrets: Secrets): Keyring {
  return new Keyring(infoOf(path, file), new Uint8Array(secrets.digestKey), new Map([...secrets.dataKeys].map(([id, k]) => [id, new Uint8Array(k)])));
}

function infoOf(path: string, file: KeyfileJson): KeyringInfo {
  const sealing = sealingKeyId(file.dataKeys);
  return {
    path,
    fingerprint: file.fingerprint,
    kdf: file.kdf.type,
    ...(file.kdf.type === "scrypt" ? { scrypt: { n: file.kdf.n, r: file.kdf.r, p: file.kdf.p } } : {}),
    created: file.created,
    modified: file.modified,
    dataKeys: file.dataKeys.map((k) => ({ ...k, sealing: k.id === sealing })),
  };
}

function findKey(path: string, file: KeyfileJson, keyId: number): DataKeyInfo {
  const key = file.dataKeys.find((k) => k.id === keyId);
  if (!key) throw new KeyfileError("bad-request", `keyfile ${path} has no data key ${keyId} (it has ${file.dataKeys.map((k) => k.id).join(", ")})`);
  return key;
}

function newKeyId(taken: Map<number, unknown>): number {
  for (;;) {
    const id = randomInt(1, 0x1_0000_0000);
    if (!taken.has(id)) return id;
  }
}

function b64(text: string): Buffer {
  return Buffer.from(text, "base64");
}

/** RFC 3339 UTC, whole seconds. */
function timestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}
