/**
 * Random-access byte sources the reader works on: an archive stream held in memory, in a local
 * file, or (in the pipeline) reassembled from a dynamic index's chunks.
 */
import * as fsp from "node:fs/promises";

export interface RandomAccess {
  /** Total stream length in bytes. */
  readonly size: number;
  /** Exactly `length` bytes from `offset` (fewer only at the end of the stream). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: between 1 and `length` bytes from `offset` (0 only at the end), stopping early
   * where the source's storage does (a chunk boundary), so no copy is needed. Readers that
   * stream large ranges use it when present; the bytes must not be modified.
   */
  readSome?(offset: number, length: number): Promise<Uint8Array>;
}

export function memorySource(bytes: Uint8Array): RandomAccess {
  return {
    size: bytes.byteLength,
    read: async (offset, length) => bytes.subarray(offset, Math.min(offset + length, bytes.byteLength)),
  };
}

/** A stream stored as a plain file; close it with `close()`. */
export async function fileSource(path: string): Promise<RandomAccess & { close(): Promise<void> }> {
  const fh = await fsp.open(path, "r");
  const { size } = await fh.stat();
  return {
    size,
    async read(offset, length) {
      const n = Math.max(0, Math.min(length, size - offset));
      const buf = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await fh.read(buf, got, n - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === n ? buf : buf.subarray(0, got);
    },
    close: () => fh.close(),
  };
}

/**
 * Serves small reads from a window fetched in larger blocks, so scanning many small records
 * does not turn into one source read per record.
 */
export class WindowReader {
  private winStart = 0;
  private win: Uint8Array = new Uint8Array(0);

  constructor(
    readonly src: RandomAccess,
    private readonly windowSize = 256 * 1024,
  ) {}

  async get(offset: number, length: number): Promise<Uint8Array> {
    if (offset >= this.winStart && offset + length <= this.winStart + this.win.byteLength) {
      return this.win.subarray(offset - this.winStart, offset - this.winStart + length);
    }
    const want = Math.min(Math.max(length, this.windowSize), this.src.size - offset);
    const data = await this.src.read(offset, want);
    this.winStart = offset;
    this.win = data;
    return data.subarray(0, Math.min(length, data.byteLength));
  }
}
