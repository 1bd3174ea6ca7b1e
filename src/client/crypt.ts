/**
 * How a backup or restore treats chunk contents: unencrypted (`none`: SHA-256 names, zstd blobs)
 * or encrypted with a keyring (`encrypt`: HMAC-SHA256 names under the digest key, zstd then
 * AES-256-GCM under the sealing data key, manifest signed with the digest key).
 */
import { chunkDigest, decodeBlob, type EncodeOptions } from "../datastore/blob.ts";
import type { Keyring } from "../keys/index.ts";

export type ClientCryptMode = "encrypt" | "none";

/** What is known of a key before it is unlocked: the mode and the keyfile's fingerprint. */
export interface CryptIdentity {
  mode: ClientCryptMode;
  fingerprint?: string;
}

/** Largest chunk a client produces or accepts (fixed chunks are 4 MiB; blobs and indexes are files, not chunks). */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

export class CryptConfig {
  private readonly zeroDigests = new Map<number, string>();

  private constructor(
    readonly mode: ClientCryptMode,
    readonly keyring: Keyring | undefined,
  ) {}

  static none(): CryptConfig {
    return new CryptConfig("none", undefined);
  }

  static encrypt(keyring: Keyring): CryptConfig {
    return new CryptConfig("encrypt", keyring);
  }

  get fingerprint(): string | undefined {
    return this.keyring?.fingerprint;
  }

  /** Options for encodeBlob / the encoder pool: zstd level 1, sealed with the active data key. */
  get encodeOptions(): EncodeOptions {
    return this.keyring ? { cipher: this.keyring.activeDataKey() } : {};
  }

  /** The manifest's signing key (the digest key, which never changes on rotation). */
  get signKey(): Uint8Array | undefined {
    return this.keyring?.digestKey;
  }

  digest(plaintext: Uint8Array): string {
    return chunkDigest(plaintext, this.keyring?.digestKey);
  }

  /** Digest of `length` zero bytes, computed once per length: zero chunks of images are never hashed. */
  zeroDigest(length: number): string {
    let d = this.zeroDigests.get(length);
    if (d === undefined) {
      d = this.digest(new Uint8Array(length));
      this.zeroDigests.set(length, d);
    }
    return d;
  }

  /** Decodes a chunk and checks that its plaintext has the expected digest. */
  decodeChunk(blob: Uint8Array, digest: string): Uint8Array {
    return decodeBlob(blob, {
      name: `chunk ${digest.slice(0, 12)}…`,
      keyLookup: this.keyring?.keyLookup,
      digestKey: this.keyring?.digestKey,
      expectedDigest: digest,
      maxDecodedSize: MAX_CHUNK_SIZE,
    });
  }

  /** Decodes a blob file of a snapshot (client log, config files). */
  decodeFile(blob: Uint8Array, name: string): Uint8Array {
    return decodeBlob(blob, { name, keyLookup: this.keyring?.keyLookup });
  }
}
