/** Deterministic pseudo-random bytes for chunker tests (xorshift32), so pinned values stay put. */
export function prngBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Splits data into consecutive pieces whose sizes come from `sizes` (cycled). */
export function splitBy(data: Uint8Array, sizes: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (let k = 0; at < data.length; k++) {
    const n = sizes[k % sizes.length];
    pieces.push(data.subarray(at, Math.min(at + n, data.length)));
    at += n;
  }
  return pieces;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
