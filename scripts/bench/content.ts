/**
 * Deterministic content for the benchmark dataset: a seeded random stream and three kinds of
 * bytes built from it.
 *
 * - text: words from a fixed 4096-word vocabulary with a Zipf-like frequency, in lines; zstd
 *   level 1 packs it to roughly a third, like source code, logs and documents.
 * - binary-ish: a mix of incompressible runs (media, archives), text runs and structured
 *   records (database pages, object files), so a large file is "partly compressible".
 * - random: incompressible.
 *
 * Every byte comes from AES-256-CTR keyed by SHA-256(seed, label): fast (native), and the same
 * seed and label give the same bytes on any machine, so runs are comparable.
 */
import { createCipheriv, createHash, type Cipheriv } from "node:crypto";

const REFILL = 1 << 20;

export class Rng {
  private readonly cipher: Cipheriv;
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private at = 0;

  constructor(seed: string, label: string) {
    const key = createHash("sha256").update(`${seed}\0${label}`).digest();
    this.cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  }

  /** n fresh random bytes (a new array, safe to keep). */
  bytes(n: number): Uint8Array {
    return new Uint8Array(this.cipher.update(Buffer.alloc(n)));
  }

  u32(): number {
    if (this.at + 4 > this.buf.length) {
      this.buf = this.bytes(REFILL);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
      this.at = 0;
    }
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** Log-uniform in [lo, hi]: many small values, a few large ones, like file sizes. */
  logUniform(lo: number, hi: number): number {
    return Math.round(Math.exp(Math.log(lo) + this.float() * (Math.log(hi) - Math.log(lo))));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.float() * xs.length)]!;
  }
}

// ---------------------------------------------------------------------------------------------
// Text

const VOCAB_SIZE = 4096;
const LETTERS = "etaoinshrdlcumwfgypbvkjxqz";
const { vocab, zipf } = buildVocabulary();

function buildVocabulary(): { vocab: Uint8Array[]; zipf: Uint16Array } {
  const rng = new Rng("ibs-bench-vocabulary", "words");
  const vocab: Uint8Array[] = [];
  for (let i = 0; i < VOCAB_SIZE; i++) {
    // Frequent words are short, as in natural language and code.
    const len = Math.min(14, 1 + Math.floor(Math.log2(i + 2)) + rng.int(0, 3));
    const w = new Uint8Array(len);
    for (let j = 0; j < len; j++) w[j] = LETTERS.charCodeAt(Math.min(25, Math.floor(Math.pow(rng.float(), 1.6) * 26)));
    vocab.push(w);
  }
  // 65536-entry table: a 16-bit random number -> word index with frequency ~ 1/(rank+1).
  const zipf = new Uint16Array(65536);
  let total = 0;
  for (let i = 0; i < VOCAB_SIZE; i++) total += 1 / (i + 1);
  let slot = 0;
  let cum = 0;
  for (let i = 0; i < VOCAB_SIZE && slot < 65536; i++) {
    cum += 1 / (i + 1) / total;
    const end = i === VOCAB_SIZE - 1 ? 65536 : Math.round(cum * 65536);
    while (slot < end) zipf[slot++] = i;
  }
  return { vocab, zipf };
}

/** Writes text into out[from, to). */
export function fillText(rng: Rng, out: Uint8Array, from = 0, to = out.length): void {
  // Each word takes 2 random bytes and writes at least 2 (a letter and a separator).
  const r = rng.bytes(to - from + 2);
  let rp = 0;
  let p = from;
  let col = 0;
  while (p < to) {
    const word = vocab[zipf[r[rp]! | (r[rp + 1]! << 8)]!]!;
    rp += 2;
    const n = Math.min(word.length, to - p);
    out.set(n === word.length ? word : word.subarray(0, n), p);
    p += n;
    col += n + 1;
    if (p < to) {
      out[p++] = col > 72 ? 10 : 32;
      if (col > 72) col = 0;
    }
  }
}

export function textBytes(rng: Rng, size: number): Uint8Array {
  const out = new Uint8Array(size);
  fillText(rng, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Structured records and the binary-ish mix

/** 32-byte records with a counter, a small-domain field and a few random bytes: ~4:1 with zstd. */
export function fillRecords(rng: Rng, out: Uint8Array, from: number, to: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const noise = rng.bytes(Math.ceil((to - from) / 32) * 4 + 4);
  let id = rng.u32();
  let k = 0;
  let p = from;
  for (; p + 32 <= to; p += 32, k += 4) {
    view.setUint32(p, id++, true);
    view.setUint32(p + 4, noise[k]! & 7, true);
    view.setUint32(p + 8, 0x4d4f4e45, true);
    view.setUint32(p + 12, (noise[k + 1]! << 8) | noise[k + 2]!, true);
    view.setUint32(p + 16, 0, true);
    view.setUint32(p + 20, 0, true);
    view.setUint32(p + 24, noise[k + 3]!, true);
    view.setUint32(p + 28, 0xffffffff, true);
  }
  out.fill(0, p, to);
}

/**
 * Segments of 64 KiB-1 MiB: `randomShare` incompressible, the rest split between text and
 * records. A few all-zero segments stand for preallocated space.
 */
export function fillBinaryish(rng: Rng, out: Uint8Array, from = 0, to = out.length, randomShare = 0.5): void {
  let p = from;
  while (p < to) {
    const end = Math.min(to, p + rng.logUniform(64 * 1024, 1024 * 1024));
    const kind = rng.float();
    if (kind < randomShare) out.set(rng.bytes(end - p), p);
    else if (kind < randomShare + (1 - randomShare) * 0.45) fillText(rng, out, p, end);
    else if (kind < randomShare + (1 - randomShare) * 0.9) fillRecords(rng, out, p, end);
    else out.fill(0, p, end);
    p = end;
  }
}

export function binaryishBytes(rng: Rng, size: number, randomShare = 0.5): Uint8Array {
  const out = new Uint8Array(size);
  fillBinaryish(rng, out, 0, size, randomShare);
  return out;
}
