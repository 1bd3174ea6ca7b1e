/**
 * Output side of the writer: a sink that coalesces small writes, counts its position and awaits
 * the consumer (backpressure). Buffers handed to the consumer are never touched again.
 */

/** Receives the next bytes of a stream; the returned promise is the backpressure. */
export type Sink = (bytes: Uint8Array) => Promise<void>;

export class BufferedSink {
  private buf: Uint8Array;
  private used = 0;
  /** Bytes of the stream so far: accepted writes plus bytes appended by others (`advance`). */
  position = 0;

  constructor(
    private readonly sink: Sink,
    private readonly flushAt = 64 * 1024,
    private readonly hasher?: Bun.CryptoHasher,
    /** The sink keeps nothing of a buffer once its promise resolves: flush hands out a view and reuses the buffer. */
    private readonly sinkCopies = false,
  ) {
    this.buf = new Uint8Array(flushAt);
  }

  /**
   * Takes the bytes; a promise only when the consumer was called (a flush), else undefined:
   * the writer sends a few records per file, and a promise per record was measurable.
   */
  write(bytes: Uint8Array): Promise<void> | undefined {
    if (bytes.byteLength === 0) return undefined;
    this.position += bytes.byteLength;
    if (bytes.byteLength >= this.flushAt / 2) return this.writeLarge(bytes);
    if (this.used + bytes.byteLength > this.flushAt) return this.flush().then(() => this.append(bytes));
    this.append(bytes);
    return undefined;
  }

  private append(bytes: Uint8Array): void {
    this.buf.set(bytes, this.used);
    this.used += bytes.byteLength;
  }

  private async writeLarge(bytes: Uint8Array): Promise<void> {
    await this.flush();
    this.hasher?.update(bytes);
    await this.sink(bytes);
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const out = this.sinkCopies ? this.buf.subarray(0, this.used) : this.buf.slice(0, this.used);
    this.used = 0;
    // Hashed per flush rather than per write: one native call for many small records.
    this.hasher?.update(out);
    await this.sink(out);
  }

  /** Someone else appended `n` bytes to the same stream (reused payload); only after flush(). */
  advance(n: number): void {
    if (this.used !== 0) throw new Error("BufferedSink.advance called with unflushed bytes");
    this.position += n;
  }
}

/** Collects a stream in memory; for tests and small archives. */
export class MemorySink {
  private parts: Uint8Array[] = [];
  length = 0;
  readonly sink: Sink = async (b) => {
    this.parts.push(b);
    this.length += b.byteLength;
  };
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.byteLength;
    }
    this.parts = [out];
    return out;
  }
  /** Appends bytes directly, as a pipeline re-using earlier chunks would. */
  append(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.byteLength;
  }
}
