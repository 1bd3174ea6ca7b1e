/**
 * Content-defined chunker for streams: FastCDC-style gear hash with normalized chunking.
 *
 * Boundaries depend only on the content (and the options), never on how the input is split
 * into pieces: the rolling fingerprint and the position inside the current chunk carry over
 * from one push() to the next. An insertion or deletion therefore changes only the chunks
 * around the edit; the cut points after it fall back in line and those chunks dedup.
 *
 * The cut rule for a chunk starting at s (offsets relative to s):
 *   - bytes [0, min) are not hashed (no cut can fall there; this is also the speed trick);
 *   - from min, fp = (fp << 1) + GEAR[byte]  (int32 arithmetic, fp = 0 at min);
 *   - before avg a cut needs (fp & maskS) == 0 with maskS = bits(avgBits + 2): harder;
 *   - from avg on a cut needs (fp & maskL) == 0 with maskL = bits(avgBits - 2): easier;
 *   - the cut falls after the byte that matched; at max a cut is forced.
 * The masks take the HIGH bits 30..(31 - k) of fp: those depend on the last ~31 bytes, while
 * the low bits only see the last few bytes. Same input + same options + same GEAR => same cuts.
 *
 * Hot loop written after bun-probe.md section 4: Int32Array table, `| 0` math, absolute
 * indices into the piece, locals only (no closures, no per-byte calls).
 */
import { UsageError } from "../util/errors.ts";
import { GEAR } from "./chunker-gear.ts";
import { joinPieces, type Chunk, type Chunker } from "./chunker-types.ts";

export interface CdcOptions {
  /** Smallest chunk (except the last one). */
  minSize: number;
  /** Target average; must be a power of two. */
  avgSize: number;
  /** Largest chunk; a cut is forced here. */
  maxSize: number;
}

/**
 * Defaults chosen with scripts/bench/chunker.ts on the 2-core VM (128 MiB random data; MB/s
 * of input fed as one buffer / as 1 MiB pieces; upload after edits = new bytes after one
 * 100-byte insertion, and after 16 scattered ones, into a 64 MiB stream; one run, speeds vary
 * by about ±30% between runs on this shared VM):
 *   min/avg/max       MB/s whole / 1 MiB pieces   chunks per GiB   upload after 1 / 16 edits
 *   16K/64K/256K      1440 / 1320                 ~14 000          0.08 / 1.3 MiB
 *   64K/256K/1M       1380 /  890                 ~3 600           0.37 / 5.0 MiB
 *   256K/1M/4M        1520 /  750                 ~930             1.6 / 19.6 MiB
 *   1M/4M/16M         1200 /  680                 ~220             5.7 / 60 MiB
 * Speed is not the deciding factor (all beat the ~420 MB/s zstd stage). The choice weighs
 * upload per edit (about one to two chunks) against per-chunk cost: one file or S3 object,
 * one index entry, one "have it?" query, GC listing per chunk. 1 MiB keeps a 1 TB datastore
 * near one million chunks while an edit costs about 1.5 MiB (restic also averages 1 MiB;
 * PBS uses 4 MiB and pays 4x more per edit). max = 4 MiB matches the fixed chunk size, so no
 * chunk of either kind exceeds what the server already accepts.
 * Feed pieces of several MiB: a chunk spanning pieces is copied into fresh memory, and with
 * 1 MiB pieces nearly every 1 MiB chunk spans one (see the 1 MiB column).
 */
export const CDC_DEFAULTS: Readonly<CdcOptions> = Object.freeze({
  minSize: 256 * 1024,
  avgSize: 1024 * 1024,
  maxSize: 4 * 1024 * 1024,
});

const MIN_AVG_BITS = 8; // 256 B: below that the per-chunk overhead dwarfs any dedup gain
const MAX_AVG_BITS = 26; // 64 MiB: maskS needs avgBits + 2 <= 28 bits inside bits 30..3
const MAX_CHUNK = 256 * 1024 * 1024;

/** k one-bits in positions 30 .. 31-k (bit 31 stays clear so the mask is a positive int32). */
function highMask(bits: number): number {
  return (((1 << bits) - 1) << (31 - bits)) | 0;
}

export function validateCdcOptions(o: CdcOptions): void {
  const { minSize, avgSize, maxSize } = o;
  const avgBits = Math.log2(avgSize);
  if (!Number.isInteger(avgBits) || avgBits < MIN_AVG_BITS || avgBits > MAX_AVG_BITS) {
    throw new UsageError(`chunker: avg size must be a power of two from 256 B to 64 MiB, got ${avgSize}`);
  }
  if (!Number.isInteger(minSize) || minSize < 1 || minSize >= avgSize) {
    throw new UsageError(`chunker: min size must be an integer from 1 to below avg (${avgSize}), got ${minSize}`);
  }
  if (!Number.isInteger(maxSize) || maxSize <= avgSize || maxSize > MAX_CHUNK) {
    throw new UsageError(`chunker: max size must be an integer above avg (${avgSize}) and at most ${MAX_CHUNK}, got ${maxSize}`);
  }
}

export class CdcChunker implements Chunker {
  private readonly min: number;
  private readonly avg: number;
  private readonly max: number;
  private readonly maskS: number;
  private readonly maskL: number;

  /** Views of the bytes of the current, unfinished chunk (earlier pieces' tails). */
  private pending: Uint8Array[] = [];
  private pendingLength = 0;
  /** Fingerprint after the last hashed byte of the current chunk (0 until min is passed). */
  private fp = 0;
  /** Offset in the whole input where the current chunk starts. */
  private chunkOffset = 0;

  /**
   * With `reuseBuffer` the chunker keeps one buffer of the max chunk size for the unfinished
   * chunk: detachPending() copies it there, and a chunk spanning pieces is completed there
   * instead of in fresh memory. A chunk's data is then valid only until the next push(),
   * detachPending() or finish(). Fresh memory per piece was garbage (up to two chunk-sized
   * buffers per piece) that cost page faults and RSS until the next paced collection.
   */
  constructor(
    options: Partial<CdcOptions> = {},
    private readonly reuseBuffer = false,
  ) {
    const o = { ...CDC_DEFAULTS, ...options };
    validateCdcOptions(o);
    this.min = o.minSize;
    this.avg = o.avgSize;
    this.max = o.maxSize;
    const avgBits = Math.log2(o.avgSize);
    this.maskS = highMask(avgBits + 2);
    this.maskL = highMask(avgBits - 2);
  }

  push(piece: Uint8Array): Chunk[] {
    const out: Chunk[] = [];
    const n = piece.length;
    let pos = 0;
    while (pos < n) {
      const cut = this.findCut(piece, pos);
      if (cut < 0) {
        this.pending.push(piece.subarray(pos));
        this.pendingLength += n - pos;
        this.owned = false;
        break;
      }
      const data = this.pendingLength === 0 ? piece.subarray(pos, cut) : this.join(piece.subarray(pos, cut));
      out.push({ offset: this.chunkOffset, data });
      this.chunkOffset += data.length;
      this.pending = [];
      this.pendingLength = 0;
      this.fp = 0;
      pos = cut;
    }
    return out;
  }

  /**
   * Copies the bytes of the unfinished chunk out of the pieces pushed so far, so the caller may
   * overwrite or reuse those pieces (one buffer per stream instead of a fresh one per piece).
   */
  detachPending(): void {
    if (this.pendingLength === 0 || this.owned) return;
    this.pending = [this.join(new Uint8Array(0))];
    this.owned = true;
  }

  /** The pending bytes followed by `tail`, in one buffer: the kept one (reuseBuffer) or a fresh one. */
  private join(tail: Uint8Array): Uint8Array {
    if (!this.reuseBuffer) return joinPieces(this.pending, this.pendingLength, tail);
    // pending + tail never exceeds max: a chunk is cut at max at the latest.
    const buf = (this.kept ??= new Uint8Array(this.max));
    let at = 0;
    for (const p of this.pending) {
      // The pending bytes detached earlier are already at the start of the kept buffer.
      if (!(at === 0 && p.buffer === buf.buffer && p.byteOffset === 0)) buf.set(p, at);
      at += p.length;
    }
    buf.set(tail, at);
    return buf.subarray(0, at + tail.length);
  }

  /** The buffer of the unfinished chunk (reuseBuffer), allocated when first needed. */
  private kept: Uint8Array | undefined;

  /** The pending bytes are one buffer this chunker made (detachPending), none of the caller's. */
  private owned = false;

  finish(): Chunk[] {
    if (this.pendingLength === 0) return [];
    const data = this.pending.length === 1 ? this.pending[0] : this.join(new Uint8Array(0));
    const chunk = { offset: this.chunkOffset, data };
    this.chunkOffset += data.length;
    this.pending = [];
    this.pendingLength = 0;
    this.fp = 0;
    return [chunk];
  }

  /**
   * Scans piece from pos for the end of the current chunk (which started pendingLength bytes
   * before pos). Returns the cut index in piece, or -1 when the piece ran out first (the
   * fingerprint is then saved for the next piece).
   */
  private findCut(buf: Uint8Array, pos: number): number {
    const G = GEAR;
    const n = buf.length;
    const start = pos - this.pendingLength; // may be negative: the chunk began in an earlier piece
    const minAt = start + this.min;
    const avgAt = start + this.avg;
    const maxAt = start + this.max;
    let i = pos > minAt ? pos : minAt;
    if (i >= n) return -1; // still inside the unhashed min prefix
    let fp = this.fp;
    const maskS = this.maskS;
    const maskL = this.maskL;
    const e1 = avgAt < n ? avgAt : n;
    for (; i < e1; i++) {
      fp = ((fp << 1) + G[buf[i]]) | 0;
      if ((fp & maskS) === 0) return i + 1;
    }
    const e2 = maxAt < n ? maxAt : n;
    for (; i < e2; i++) {
      fp = ((fp << 1) + G[buf[i]]) | 0;
      if ((fp & maskL) === 0) return i + 1;
    }
    if (maxAt <= n) return maxAt;
    this.fp = fp;
    return -1;
  }
}

/** End offsets of the chunks of one whole buffer (the last one is data.length when non-empty). */
export function cdcCutPoints(data: Uint8Array, options: Partial<CdcOptions> = {}): number[] {
  const chunker = new CdcChunker(options);
  const ends: number[] = [];
  for (const c of chunker.push(data)) ends.push(c.offset + c.data.length);
  for (const c of chunker.finish()) ends.push(c.offset + c.data.length);
  return ends;
}
