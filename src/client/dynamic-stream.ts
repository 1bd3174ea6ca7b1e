/**
 * Turns a byte stream (an archive's metadata or payload stream) into chunks and a dynamic
 * index: bytes are gathered into pieces of several MiB before the content-defined chunker sees
 * them (chunker-cdc.ts: a chunk spanning pieces costs a copy), each chunk is digested here, on
 * the calling thread, so index entries are appended in stream order without waiting, and handed
 * to the uploader, whose promise is the backpressure for the archive writer.
 *
 * Change detection appends whole chunks of the previous snapshot's stream: `cut()` ends the
 * current chunk at the current position, `appendKnown()` adds the previous chunks' digests.
 */
import { DynamicIndexWriter } from "../datastore/dynamic-index.ts";
import { CdcChunker, type CdcOptions } from "../pipeline/chunker-cdc.ts";
import type { Chunk } from "../pipeline/chunker-types.ts";
import type { CryptConfig } from "./crypt.ts";
import type { ChunkUploader } from "./upload-pipeline.ts";

/** Gathered small writes (4 MiB: at the 1 MiB average chunk most chunks fit inside one piece). */
export const STREAM_PIECE_SIZE = 4 * 1024 * 1024;
/** Writes at least this large skip the piece buffer (see `sink`). */
const DIRECT_WRITE = 1024 * 1024;

/** Metadata streams change a little everywhere on every backup: smaller chunks dedup better. */
export const METADATA_CDC: Partial<CdcOptions> = { minSize: 64 * 1024, avgSize: 256 * 1024, maxSize: 1024 * 1024 };

export class DynamicStreamWriter {
  readonly index = new DynamicIndexWriter();
  private readonly chunker: CdcChunker;
  private piece: Uint8Array | null = null;
  private used = 0;
  /** Bytes of the stream so far: accepted by the sink plus appended previous chunks. */
  position = 0;

  constructor(
    private readonly uploader: ChunkUploader,
    private readonly crypt: CryptConfig,
    private readonly cdc: Partial<CdcOptions> = {},
    private readonly pieceSize = STREAM_PIECE_SIZE,
  ) {
    // One kept buffer for the unfinished chunk (chunker-cdc.ts): `handle` is done with every
    // chunk before the next push, detachPending or finish, which may overwrite it.
    this.chunker = new CdcChunker(cdc, true);
  }

  /**
   * The archive writer's sink for this stream. Small writes are gathered into a piece; a large
   * write (file contents read in several-MiB pieces) goes to the chunker as it is, without a
   * copy. Nothing of `bytes` is kept once the returned promise resolves (the chunks were digested
   * and copied by the uploader, the unfinished one is copied out), so the writer may reuse its
   * buffer: one read buffer and one piece per stream instead of fresh memory for every piece,
   * which is most of what made the client's RSS grow (gc-pacer.ts).
   */
  readonly sink = async (bytes: Uint8Array): Promise<void> => {
    this.position += bytes.byteLength;
    if (bytes.byteLength >= DIRECT_WRITE) {
      await this.pushGathered();
      await this.handle(this.chunker.push(bytes));
      this.chunker.detachPending();
      return;
    }
    if (this.used + bytes.byteLength > this.pieceSize) await this.pushGathered();
    this.piece ??= Buffer.allocUnsafe(this.pieceSize);
    this.piece.set(bytes, this.used);
    this.used += bytes.byteLength;
  };

  /** Hands the gathered bytes to the chunker, then takes the piece back for the next ones. */
  private async pushGathered(): Promise<void> {
    if (this.used === 0) return;
    const part = this.piece!.subarray(0, this.used);
    this.used = 0;
    await this.handle(this.chunker.push(part));
    this.chunker.detachPending();
  }

  /** Ends the current chunk here (the next bytes start a new one). */
  async cut(): Promise<void> {
    await this.pushGathered();
    // finish() leaves the chunker clean for the next bytes (and keeps its buffer).
    await this.handle(this.chunker.finish());
  }

  /** Appends chunks the session already knows (previous snapshot), without their bytes. */
  appendKnown(chunks: Iterable<{ length: number; digest: string }>): void {
    if (this.used !== 0) throw new Error("appendKnown needs cut() first");
    for (const c of chunks) {
      this.index.addChunk(c.length, c.digest);
      this.position += c.length;
      this.uploader.noteReused(c.length);
    }
  }

  /** Ends the stream: the last chunk, then every upload stored; returns the index file. */
  async finish(): Promise<Uint8Array> {
    await this.cut();
    await this.uploader.drain();
    if (this.index.size !== this.position) throw new Error(`stream index covers ${this.index.size} bytes, the stream had ${this.position}`);
    return this.index.finish();
  }

  private async handle(chunks: Chunk[]): Promise<void> {
    for (const c of chunks) {
      const digest = this.crypt.digest(c.data);
      this.index.addChunk(c.data.byteLength, digest);
      await this.uploader.add(c.data, digest);
    }
  }
}
