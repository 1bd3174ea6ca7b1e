/**
 * Fixed-size chunker for disk images: every chunk is `chunkSize` bytes at offset k * chunkSize,
 * only the last one may be shorter. Chunks that are entirely zero are flagged `zero: true` so
 * the caller stores a single zero chunk (or leaves a hole in a sparse restore) instead of
 * hashing, compressing and uploading the same empty block again and again.
 */
import { UsageError } from "../util/errors.ts";
import type { Chunk, Chunker } from "./chunker-types.ts";

/** 4 MiB, like PBS's fixed index: few chunks per disk, and the size the server expects. */
export const FIXED_CHUNK_SIZE_DEFAULT = 4 * 1024 * 1024;
const FIXED_CHUNK_SIZE_MIN = 64 * 1024;
const FIXED_CHUNK_SIZE_MAX = 16 * 1024 * 1024;

export interface FixedChunk extends Chunk {
  /** Every byte is 0. */
  zero: boolean;
}

/** Shared zero bytes to memcmp against; 1 MiB keeps it small and the per-call overhead negligible. */
const ZERO_SLICE = Buffer.alloc(1024 * 1024);

/**
 * True when every byte of data is 0. Buffer.compare against shared zero bytes is a native
 * memcmp: ~36 GB/s on this VM, versus ~9.5 GB/s for an Int32Array loop and ~0.7 GB/s for
 * BigUint64Array; it stops at the first non-zero byte, so real data costs almost nothing.
 */
export function isAllZero(data: Uint8Array): boolean {
  const n = data.length;
  if (n === 0) return true;
  // Cheap early exits for the common non-zero case before the full compare.
  if (data[0] !== 0 || data[n - 1] !== 0 || data[n >>> 1] !== 0) return false;
  const view = Buffer.from(data.buffer, data.byteOffset, n);
  for (let at = 0; at < n; at += ZERO_SLICE.length) {
    const end = Math.min(at + ZERO_SLICE.length, n);
    if (Buffer.compare(view.subarray(at, end), ZERO_SLICE.subarray(0, end - at)) !== 0) return false;
  }
  return true;
}

export function validateFixedChunkSize(size: number): void {
  if (!Number.isInteger(size) || size < FIXED_CHUNK_SIZE_MIN || size > FIXED_CHUNK_SIZE_MAX || (size & (size - 1)) !== 0) {
    throw new UsageError(`chunker: fixed chunk size must be a power of two from 64 KiB to 16 MiB, got ${size}`);
  }
}

export class FixedChunker implements Chunker<FixedChunk> {
  private readonly size: number;
  /** Buffer of the current, partly filled chunk (null when the next chunk starts fresh). */
  private partial: Buffer | null = null;
  private partialLength = 0;
  private offset = 0;

  constructor(chunkSize = FIXED_CHUNK_SIZE_DEFAULT) {
    validateFixedChunkSize(chunkSize);
    this.size = chunkSize;
  }

  /**
   * `zero`: the caller knows the piece is all zero bytes (an image hole it did not read), so
   * whole chunks inside it are not scanned.
   */
  push(piece: Uint8Array, zero = false): FixedChunk[] {
    const out: FixedChunk[] = [];
    const size = this.size;
    const n = piece.length;
    let pos = 0;
    if (this.partial) {
      const take = Math.min(size - this.partialLength, n);
      this.partial.set(piece.subarray(0, take), this.partialLength);
      this.partialLength += take;
      pos = take;
      if (this.partialLength === size) out.push(this.emit(this.partial));
    }
    // Whole chunks inside the piece are handed out as views: no copy.
    while (n - pos >= size) {
      out.push(this.emit(piece.subarray(pos, pos + size), zero));
      pos += size;
    }
    if (pos < n) {
      this.partial = Buffer.allocUnsafe(size);
      this.partial.set(piece.subarray(pos), 0);
      this.partialLength = n - pos;
    }
    return out;
  }

  finish(): FixedChunk[] {
    if (!this.partial || this.partialLength === 0) return [];
    return [this.emit(this.partial.subarray(0, this.partialLength))];
  }

  private emit(data: Uint8Array, zero = false): FixedChunk {
    const chunk = { offset: this.offset, data, zero: zero || isAllZero(data) };
    this.offset += data.length;
    this.partial = null;
    this.partialLength = 0;
    return chunk;
  }
}
