/**
 * The gear table of the content-defined chunker: 256 pseudo-random 32-bit values, one per
 * byte value, added into the rolling fingerprint.
 *
 * It is derived, not typed in, so anyone can rebuild and check it:
 *   for k in 0..31: h_k = SHA-256(ASCII "IBS CDC gear table v1" || byte k)
 *   GEAR[8k + j] = h_k[4j .. 4j+4) read as a little-endian int32, j = 0..7
 *
 * WARNING: changing the seed string or this derivation moves every chunk boundary, so new
 * backups would share no chunks with old ones (dedup restarts from zero). Treat it as part of
 * the storage format; test/unit/pipeline pins sample values and cut points to catch accidents.
 */
import { createHash } from "node:crypto";

export const GEAR_SEED = "IBS CDC gear table v1";

function deriveGearTable(seed: string): Int32Array {
  // Int32Array, not Uint32Array: values above 2^31 in a Uint32Array make JSC deoptimize the hot
  // loop (bun-probe.md section 4 measured 28 MB/s instead of ~850 MB/s).
  const table = new Int32Array(256);
  const seedBytes = Buffer.from(seed, "ascii");
  for (let k = 0; k < 32; k++) {
    const h = createHash("sha256").update(seedBytes).update(Uint8Array.of(k)).digest();
    for (let j = 0; j < 8; j++) table[8 * k + j] = h.readInt32LE(4 * j);
  }
  return table;
}

export const GEAR: Int32Array = deriveGearTable(GEAR_SEED);
