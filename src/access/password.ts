/**
 * Password hashing: argon2id through Bun.password (native; measured here at ~50 ms per hash
 * with these parameters against ~100 ms for hash-wasm's WebAssembly build). Parameters follow
 * OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane). The PHC string stores them, so raising
 * them later keeps old hashes verifiable.
 */
import { invalid } from "./errors.ts";

const PARAMS = { algorithm: "argon2id", memoryCost: 19_456, timeCost: 2 } as const;

export const MIN_PASSWORD_LENGTH = 8;
// Bounded so a huge "password" cannot be used to burn CPU in the hash.
export const MAX_PASSWORD_LENGTH = 1024;

export function checkPasswordPolicy(password: string, what = "password"): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw invalid(`${what} is too short (at least ${MIN_PASSWORD_LENGTH} characters)`);
  if (password.length > MAX_PASSWORD_LENGTH) throw invalid(`${what} is too long (at most ${MAX_PASSWORD_LENGTH} characters)`);
}

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, PARAMS);
}

// A valid hash of a random password: verifying against it when the user does not exist
// costs the same time as a real check, so timing does not tell which user names exist.
let dummyHash: Promise<string> | null = null;

export async function verifyPassword(password: string, hash: string | null): Promise<boolean> {
  if (password.length === 0 || password.length > MAX_PASSWORD_LENGTH) return false;
  if (!hash) {
    dummyHash ??= hashPassword(crypto.randomUUID());
    await Bun.password.verify(password, await dummyHash).catch(() => false);
    return false;
  }
  try {
    return await Bun.password.verify(password, hash);
  } catch {
    return false;
  }
}

/** A random password for generated accounts: 24 characters from an unambiguous alphabet. */
export function randomPassword(length = 24): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(length * 2));
  let out = "";
  // Rejection sampling keeps every character equally likely.
  for (const b of bytes) {
    if (b < 256 - (256 % alphabet.length)) out += alphabet[b % alphabet.length];
    if (out.length === length) return out;
  }
  return out + randomPassword(length - out.length);
}
