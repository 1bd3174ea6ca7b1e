/**
 * Worker thread of the encoder pool: compresses and encrypts chunks off the main thread, where
 * reading, chunking, hashing and HTTP already keep one core busy (zstd is the slowest stage).
 * Messages: {id, data, options} in, {id, blob} or {id, error} out; buffers are transferred.
 */
import { encodeBlob, type EncodeOptions } from "../datastore/blob.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ id: number; data: Uint8Array; options: EncodeOptions }>) => {
  const { id, data, options } = event.data;
  try {
    const blob = encodeBlob(data, options);
    self.postMessage({ id, blob }, [blob.buffer as ArrayBuffer]);
  } catch (err) {
    self.postMessage({ id, error: (err as Error).message });
  }
};
