/**
 * An unlocked keyring: the stable digest key and the data keys, in memory only.
 *
 * - digestKey: HMAC-SHA256 key for chunk digests; never changes, so dedup survives rotation.
 * - data keys: AES-256-GCM keys, each named by a u32 id written into every blob it seals.
 *   The newest "active" key seals new blobs; every key still present decrypts.
 *
 * It plugs into the blob codec as plain data: `activeDataKey()` is the encode cipher
 * `{ keyId, key }`, `keyLookup` the decode lookup. The secrets never show up in JSON, console
 * output or inspection; only ids, states and the fingerprint do.
 */
import type { DataKeyInfo, KdfType } from "./keyfile-format.ts";

export interface DataKey {
  keyId: number;
  key: Uint8Array;
}

/** What `key show` and the API may print: no secret material. */
export interface KeyringInfo {
  path: string;
  fingerprint: string;
  kdf: KdfType;
  /** scrypt cost parameters (not the salt), when kdf is scrypt. */
  scrypt?: { n: number; r: number; p: number };
  created: string;
  modified: string;
  dataKeys: (DataKeyInfo & { sealing: boolean })[];
}

export class Keyring {
  readonly #digestKey: Uint8Array;
  readonly #dataKeys: Map<number, Uint8Array>;
  readonly #sealing: DataKey;

  /** Decode lookup for the blob codec: the key for an id, or undefined if this keyring lacks it. */
  readonly keyLookup: (keyId: number) => Uint8Array | undefined;

  constructor(
    readonly info: Readonly<KeyringInfo>,
    digestKey: Uint8Array,
    dataKeys: Map<number, Uint8Array>,
  ) {
    this.#digestKey = digestKey;
    this.#dataKeys = dataKeys;
    const sealing = info.dataKeys.find((k) => k.sealing);
    const key = sealing && dataKeys.get(sealing.id);
    if (!sealing || !key) throw new Error(`keyring ${info.path}: no active data key to seal with`);
    this.#sealing = { keyId: sealing.id, key };
    this.keyLookup = (keyId) => this.#dataKeys.get(keyId);
  }

  get fingerprint(): string {
    return this.info.fingerprint;
  }

  /** HMAC-SHA256 key for chunk digests. */
  get digestKey(): Uint8Array {
    return this.#digestKey;
  }

  /** The data key that seals new blobs: the newest one in state "active". */
  activeDataKey(): DataKey {
    return this.#sealing;
  }

  dataKey(keyId: number): Uint8Array | undefined {
    return this.#dataKeys.get(keyId);
  }

  toJSON(): KeyringInfo {
    return this.info;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Keyring ${this.info.fingerprint} (${this.info.dataKeys.length} data keys, secrets hidden)`;
  }
}

/** Which key seals: the last "active" one in file order (keys are appended as they are created). */
export function sealingKeyId(keys: readonly DataKeyInfo[]): number | undefined {
  for (let i = keys.length - 1; i >= 0; i--) if (keys[i].state === "active") return keys[i].id;
  return undefined;
}
