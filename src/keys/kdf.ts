/**
 * Passphrase -> key-encryption key (KEK) for the keyfile. scrypt from node:crypto (native).
 *
 * Defaults N = 2^16, r = 8, p = 1 (64 MiB, the same as PBS). Measured on the 2-core VM with
 * Bun 1.4.5: N=2^15 ~85 ms, N=2^16 ~130 ms, N=2^17 ~300 ms per derivation. An unlock happens
 * once per backup run, so 2^16 costs nothing noticeable while doubling an attacker's work
 * over 2^15. The parameters live in the keyfile, so they can be raised later per file.
 */
import { createHmac, scrypt } from "node:crypto";
import { IbsError } from "../util/errors.ts";

export interface ScryptParams {
  n: number;
  r: number;
  p: number;
}

export const SCRYPT_DEFAULTS: Readonly<ScryptParams> = Object.freeze({ n: 1 << 16, r: 8, p: 1 });

/**
 * Bounds for parameters read from a file: a hostile or corrupt keyfile must not make us
 * allocate gigabytes or spin for minutes. 2^10 is the floor (tests use it for speed).
 */
export const SCRYPT_LIMITS = { minLogN: 10, maxLogN: 22, maxR: 32, maxP: 16 } as const;

export function scryptParamsProblem(params: ScryptParams): string | undefined {
  const logN = Math.log2(params.n);
  if (!Number.isInteger(logN) || logN < SCRYPT_LIMITS.minLogN || logN > SCRYPT_LIMITS.maxLogN) {
    return `scrypt n must be a power of two from 2^${SCRYPT_LIMITS.minLogN} to 2^${SCRYPT_LIMITS.maxLogN}, got ${params.n}`;
  }
  if (!Number.isInteger(params.r) || params.r < 1 || params.r > SCRYPT_LIMITS.maxR) return `scrypt r must be 1-${SCRYPT_LIMITS.maxR}, got ${params.r}`;
  if (!Number.isInteger(params.p) || params.p < 1 || params.p > SCRYPT_LIMITS.maxP) return `scrypt p must be 1-${SCRYPT_LIMITS.maxP}, got ${params.p}`;
  return undefined;
}

/** Passphrases are compared as NFC-normalized UTF-8, so the same text typed on different systems unlocks. */
export function passphraseBytes(passphrase: string): Buffer {
  return Buffer.from(passphrase.normalize("NFC"), "utf8");
}

export function deriveKek(passphrase: string, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  const problem = scryptParamsProblem(params);
  if (problem) return Promise.reject(new IbsError(problem));
  // scrypt needs 128 * n * r bytes (times p, sequentially); leave headroom over that.
  const maxmem = 128 * params.n * params.r * 2 + (16 << 20);
  return new Promise((resolve, reject) => {
    scrypt(passphraseBytes(passphrase), salt, 32, { N: params.n, r: params.r, p: params.p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const CHECK_MESSAGE = "IBS keyfile passphrase check v1";

/**
 * A short value derived from the KEK, stored in the file so that a wrong passphrase is told
 * apart from a tampered or corrupt keyring (whose GCM tag would fail either way). It gives an
 * attacker nothing the GCM tag does not already give: each guess still costs one scrypt.
 */
export function passphraseCheck(kek: Uint8Array): Buffer {
  return createHmac("sha256", kek).update(CHECK_MESSAGE, "ascii").digest().subarray(0, 16);
}
