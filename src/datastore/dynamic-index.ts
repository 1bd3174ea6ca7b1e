/**
 * Dynamic chunk index (.didx) for streams: entries of (end offset u64, digest[32]) where the
 * end offset is the cumulative end of the chunk in the stream. Format in docs/formats.md.
 */
import { bytesToHex, digestToBytes } from "./digest.ts";
import { CorruptError } from "./errors.ts";
import type { ChunkLocation } from "./fixed-index.ts";
import { assembleIndex, DYNAMIC_ENTRY_SIZE, INDEX_HEADER_SIZE, type IndexHeader, parseIndexHeader } from "./index-format.ts";

export class DynamicIndexWriter {
  private buf = new Uint8Array(64 * DYNAMIC_ENTRY_SIZE);
  private count = 0;
  private end = 0;

  constructor(readonly options: { uuid?: string; ctime?: number } = {}) {}

  /** Appends the next chunk of the stream by its length. */
  addChunk(length: number, digest: string): void {
    this.add(this.end + length, digest);
  }

  /** Appends the next chunk by its end offset (must grow: chunks are never empty). */
  add(endOffset: number, digest: string): void {
    if (!Number.isSafeInteger(endOffset) || endOffset <= this.end) {
      throw new RangeError(`dynamic index: end offset ${endOffset} must be greater than the previous ${this.end}`);
    }
    if ((this.count + 1) * DYNAMIC_ENTRY_SIZE > this.buf.length) {
      const grown = new Uint8Array(this.buf.length * 2);
      grown.set(this.buf);
      this.buf = grown;
    }
    const at = this.count * DYNAMIC_ENTRY_SIZE;
    new DataView(this.buf.buffer).setBigUint64(at, BigInt(endOffset), true);
    this.buf.set(digestToBytes(digest), at + 8);
    this.count++;
    this.end = endOffset;
  }

  get size(): number {
    return this.end;
  }

  get chunkCount(): number {
    return this.count;
  }

  finish(): Uint8Array {
    const entries = this.buf.subarray(0, this.count * DYNAMIC_ENTRY_SIZE);
    return assembleIndex("dynamic", { ...this.options, size: this.end, chunkSize: 0 }, entries, this.count);
  }
}

export class DynamicIndex {
  private readonly ends: Float64Array;
  /**
   * The location asked for last: a restore reads one chunk many times (a small file each
   * time), and turning its digest into hex every time cost ~0.3 s of the benchmark restore.
   */
  private last: ChunkLocation | undefined;

  private constructor(
    readonly header: IndexHeader,
    private readonly entries: Uint8Array,
    name: string,
  ) {
    // Offsets are decoded once: chunkAt() binary-searches them on every random read.
    this.ends = new Float64Array(header.chunkCount);
    const view = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
    let previous = 0;
    for (let i = 0; i < header.chunkCount; i++) {
      const end = Number(view.getBigUint64(i * DYNAMIC_ENTRY_SIZE, true));
      if (end <= previous) throw new CorruptError(`index ${name}: entry ${i} ends at ${end}, not after the previous end ${previous}`);
      this.ends[i] = end;
      previous = end;
    }
    if (previous !== header.size) throw new CorruptError(`index ${name}: last entry ends at ${previous}, header says the stream is ${header.size} bytes`);
  }

  /** Parses and checks a .didx file; `name` names it in errors. */
  static parse(bytes: Uint8Array, name: string): DynamicIndex {
    const header = parseIndexHeader(bytes, name, "dynamic");
    if (header.chunkSize !== 0) throw new CorruptError(`index ${name}: chunk size field must be 0 in a dynamic index`);
    return new DynamicIndex(header, bytes.subarray(INDEX_HEADER_SIZE), name);
  }

  get size(): number {
    return this.header.size;
  }

  get chunkCount(): number {
    return this.header.chunkCount;
  }

  endOffset(index: number): number {
    this.check(index);
    return this.ends[index]!;
  }

  digest(index: number): string {
    return bytesToHex(this.digestBytes(index));
  }

  digestBytes(index: number): Uint8Array {
    this.check(index);
    const at = index * DYNAMIC_ENTRY_SIZE + 8;
    return this.entries.subarray(at, at + 32);
  }

  location(index: number): ChunkLocation {
    if (this.last?.index === index) return this.last;
    this.check(index);
    this.last = { index, start: index === 0 ? 0 : this.ends[index - 1]!, end: this.ends[index]!, digest: this.digest(index) };
    return this.last;
  }

  /** The chunk holding byte `offset` of the stream (binary search over end offsets). */
  chunkAt(offset: number): ChunkLocation {
    if (offset < 0 || offset >= this.size) throw new RangeError(`offset ${offset} outside the stream (size ${this.size})`);
    let lo = 0;
    let hi = this.chunkCount - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    return this.location(lo);
  }

  *digests(): IterableIterator<string> {
    for (let i = 0; i < this.chunkCount; i++) yield this.digest(i);
  }

  uniqueDigests(): Set<string> {
    return new Set(this.digests());
  }

  private check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.chunkCount) throw new RangeError(`chunk ${index} outside 0..${this.chunkCount - 1}`);
  }
}
