/** Client-side encryption keys: keyfiles holding a keyring (digest key + rotating data keys). */
export { createKeyfile, loadKeyfile, readKeyfileInfo, changePassphrase, rotateKeyfile, retireDataKey, removeDataKey, MIN_PASSPHRASE_LENGTH } from "./keyfile.ts";
export type { NewPassphraseOptions } from "./keyfile.ts";
export { Keyring, type DataKey, type KeyringInfo } from "./keyring.ts";
export { KeyfileError, type KeyfileFailure } from "./keyfile-error.ts";
export { computeFingerprint, formatFingerprint, isFingerprint, shortFingerprint } from "./fingerprint.ts";
export { SCRYPT_DEFAULTS, type ScryptParams } from "./kdf.ts";
export type { DataKeyInfo, DataKeyState, KdfType } from "./keyfile-format.ts";
