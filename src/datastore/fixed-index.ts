/**
 * Fixed-size chunk index (.fidx) for disk images: one 32-byte digest per `chunkSize` bytes of
 * the image (the last chunk may be shorter). Format in docs/formats.md.
 */
import { bytesToHex, digestToBytes } from "./digest.ts";
import { CorruptError } from "./errors.ts";
import { assembleIndex, FIXED_ENTRY_SIZE, INDEX_HEADER_SIZE, type IndexHeader, parseIndexHeader } from "./index-format.ts";

/** Where a chunk sits in its stream; shared between callers (DynamicIndex hands out the last one again). */
export interface ChunkLocation {
  readonly index: number;
  readonly start: number;
  readonly end: number;
  readonly digest: string;
}

export class FixedIndexWriter {
  private readonly entries: Uint8Array;
  private readonly filled: Uint8Array;
  readonly chunkCount: number;

  constructor(readonly options: { size: number; chunkSize: number; uuid?: string; ctime?: number }) {
    const { size, chunkSize } = options;
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`fixed index: image size must be a non-negative integer, got ${size}`);
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new RangeError(`fixed index: chunk size must be positive, got ${chunkSize}`);
    this.chunkCount = Math.ceil(size / chunkSize);
    this.entries = new Uint8Array(this.chunkCount * FIXED_ENTRY_SIZE);
    this.filled = new Uint8Array(this.chunkCount);
  }

  /** Sets the digest of chunk `index` (chunks may arrive out of order from parallel workers). */
  set(index: number, digest: string): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.chunkCount) {
      throw new RangeError(`fixed index: chunk ${index} outside 0..${this.chunkCount - 1}`);
    }
    this.entries.set(digestToBytes(digest), index * FIXED_ENTRY_SIZE);
    this.filled[index] = 1;
  }

  finish(): Uint8Array {
    const missing = this.filled.indexOf(0);
    if (missing >= 0) throw new RangeError(`fixed index: chunk ${missing} of ${this.chunkCount} was never set`);
    return assembleIndex("fixed", this.options, this.entries, this.chunkCount);
  }
}

export class FixedIndex {
  private constructor(
    readonly header: IndexHeader,
    private readonly entries: Uint8Array,
  ) {}

  /** Parses and checks a .fidx file; `name` names it in errors. */
  static parse(bytes: Uint8Array, name: string): FixedIndex {
    const header = parseIndexHeader(bytes, name, "fixed");
    const expectedCount = header.chunkSize === 0 ? -1 : Math.ceil(header.size / header.chunkSize);
    if (expectedCount !== header.chunkCount) {
      throw new CorruptError(`index ${name}: ${header.chunkCount} entries do not cover ${header.size} bytes in chunks of ${header.chunkSize}`);
    }
    return new FixedIndex(header, bytes.subarray(INDEX_HEADER_SIZE));
  }

  get size(): number {
    return this.header.size;
  }

  get chunkSize(): number {
    return this.header.chunkSize;
  }

  get chunkCount(): number {
    return this.header.chunkCount;
  }

  digest(index: number): string {
    return bytesToHex(this.digestBytes(index));
  }

  digestBytes(index: number): Uint8Array {
    if (index < 0 || index >= this.chunkCount) throw new RangeError(`chunk ${index} outside 0..${this.chunkCount - 1}`);
    return this.entries.subarray(index * FIXED_ENTRY_SIZE, (index + 1) * FIXED_ENTRY_SIZE);
  }

  /** The chunk holding byte `offset` of the image. */
  chunkAt(offset: number): ChunkLocation {
    if (offset < 0 || offset >= this.size) throw new RangeError(`offset ${offset} outside the image (size ${this.size})`);
    const index = Math.floor(offset / this.chunkSize);
    return this.location(index);
  }

  location(index: number): ChunkLocation {
    const start = index * this.chunkSize;
    return { index, start, end: Math.min(start + this.chunkSize, this.size), digest: this.digest(index) };
  }

  *digests(): IterableIterator<string> {
    for (let i = 0; i < this.chunkCount; i++) yield this.digest(i);
  }

  uniqueDigests(): Set<string> {
    return new Set(this.digests());
  }
}
