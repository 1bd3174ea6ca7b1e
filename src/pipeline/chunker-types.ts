/**
 * What both chunkers (content-defined for streams, fixed for disk images) have in common, so
 * the pipeline can drive either one the same way: push pieces of any size, take the chunks
 * that are complete, call finish() at the end of the input for the last one.
 */

export interface Chunk {
  /** Byte offset of the chunk's first byte in the whole input. */
  offset: number;
  /**
   * The chunk's bytes. This may be a view into a piece you pushed (no copy), so a pushed
   * buffer must not be overwritten or reused while its chunks are still in use.
   */
  data: Uint8Array;
}

export interface Chunker<C extends Chunk = Chunk> {
  /** Feeds the next piece of input; returns the chunks it completed, in order. */
  push(piece: Uint8Array): C[];
  /** Ends the input: returns the last, possibly short, chunk (none when nothing is pending). */
  finish(): C[];
}

/** Runs a chunker over an async source of pieces and yields its chunks in input order. */
export async function* chunkStream<C extends Chunk>(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  chunker: Chunker<C>,
): AsyncGenerator<C> {
  for await (const piece of source) {
    for (const chunk of chunker.push(piece)) yield chunk;
  }
  for (const chunk of chunker.finish()) yield chunk;
}

/** Joins the pending views and the head of the current piece into one fresh buffer. */
export function joinPieces(pending: Uint8Array[], pendingLength: number, tail: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(pendingLength + tail.length);
  let at = 0;
  for (const p of pending) {
    out.set(p, at);
    at += p.length;
  }
  out.set(tail, at);
  return out;
}
