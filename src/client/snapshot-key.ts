/**
 * Which key a snapshot needs, checked before anything of it is read: an encrypted snapshot
 * names its key fingerprint in the manifest, and a keyfile with another key is refused by
 * naming both (so the operator knows which keyfile to find), never with a decryption error.
 */
import { verifyManifestSignature, type Manifest } from "../datastore/manifest.ts";
import { IbsError } from "../util/errors.ts";
import { CryptConfig } from "./crypt.ts";

export function snapshotCrypt(manifest: Manifest, name: string, crypt: CryptConfig | undefined): CryptConfig {
  const encrypted = manifest.files.some((f) => f.crypt_mode === "encrypt");
  if (!encrypted) return CryptConfig.none();
  const needed = manifest.key_fingerprint ?? "(not recorded)";
  if (!crypt?.keyring) {
    throw new IbsError(`snapshot ${name} is encrypted with key ${needed}: give the keyfile with that key`, 2, "pass --keyfile FILE (or set IBS_KEYFILE); `ironcore-backup key show FILE` shows a keyfile's fingerprint");
  }
  if (crypt.fingerprint !== manifest.key_fingerprint) {
    throw new IbsError(
      `snapshot ${name} needs the key with fingerprint ${needed}, but keyfile ${crypt.keyring.info.path} holds key ${crypt.fingerprint}`,
      1,
      "pass the keyfile whose fingerprint matches (`ironcore-backup key show FILE` shows it)",
    );
  }
  verifyManifestSignature(manifest, crypt.signKey!, `manifest of snapshot ${name}`);
  return crypt;
}
