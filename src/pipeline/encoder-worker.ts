/**
 * Worker thread of the encoder pool: compresses and encrypts chunks off the main thread, where
 * reading, chunking, hashing and HTTP already keep one core busy (zstd is the slowest stage).
 * Messages: {id, data, options} in, {id, blob, input} or {id, error} out; buffers are
 * transferred (`input` is the data's buffer, handed back for reuse).
 */
import { encodeBlob, type EncodeOptions } from "../datastore/blob.ts";
import { collectGarbage } from "../util/collect-garbage.ts";

declare const self: Worker;

/**
 * Every chunk arrives as a fresh buffer and leaves as another: collect once per 64 MiB, or the
 * thread's garbage grows by hundreds of MiB before JSC gets to it (gc-pacer.ts in the client
 * says why; this heap is small, so a collection costs about a millisecond).
 */
const GC_EVERY_BYTES = 16 * 1024 * 1024;
let sinceGc = 0;

self.onmessage = (event: MessageEvent<{ id: number; data: Uint8Array; options: EncodeOptions }>) => {
  const { id, data, options } = event.data;
  try {
    const blob = encodeBlob(data, options);
    // The input's buffer goes back to the pool to carry a later chunk.
    const input = data.buffer as ArrayBuffer;
    self.postMessage({ id, blob, input }, [blob.buffer as ArrayBuffer, input]);
    sinceGc += data.byteLength;
    if (sinceGc >= GC_EVERY_BYTES) {
      sinceGc = 0;
      collectGarbage();
    }
  } catch (err) {
    self.postMessage({ id, error: (err as Error).message });
  }
};
