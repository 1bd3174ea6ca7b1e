/**
 * Worker thread of the decoder pool: decrypts, decompresses and digest-checks fetched chunks
 * off the main thread during restores. Messages: {keys} once, then {id, blob, digest, check} in,
 * {id, data} or {id, error} out; buffers are transferred.
 */
import { decodeBlob } from "../datastore/blob.ts";
import { collectGarbage } from "../util/collect-garbage.ts";
import { releaseBuffer, spansItsBuffer } from "../util/release-buffer.ts";

declare const self: Worker;

let dataKeys = new Map<number, Uint8Array>();
let digestKey: Uint8Array | undefined;
const MAX_CHUNK = 16 * 1024 * 1024;
/** Collect once per 16 MiB decoded: each chunk leaves fresh garbage behind (util/collect-garbage.ts). */
const GC_EVERY_BYTES = 16 * 1024 * 1024;
let sinceGc = 0;

self.onmessage = (event: MessageEvent) => {
  const m = event.data as { keys?: { dataKeys: Array<[number, Uint8Array]>; digestKey?: Uint8Array }; id: number; blob: Uint8Array; digest: string; check: boolean };
  if (m.keys) {
    dataKeys = new Map(m.keys.dataKeys);
    digestKey = m.keys.digestKey;
    return;
  }
  try {
    const out = decodeBlob(m.blob, {
      name: `chunk ${m.digest.slice(0, 12)}…`,
      keyLookup: (id) => dataKeys.get(id),
      digestKey,
      expectedDigest: m.check ? m.digest : undefined,
      maxDecodedSize: MAX_CHUNK,
    });
    // Transfer needs a buffer of its own: a view into a larger one is copied first.
    const data = spansItsBuffer(out) ? out : out.slice();
    const blobUsedUp = m.blob.buffer !== data.buffer;
    self.postMessage({ id: m.id, data }, [data.buffer as ArrayBuffer]);
    // The fetched blob came to this thread to be decoded and nobody else has it (util/release-buffer.ts).
    if (blobUsedUp) releaseBuffer(m.blob);
    sinceGc += data.byteLength;
    if (sinceGc >= GC_EVERY_BYTES) {
      sinceGc = 0;
      collectGarbage();
    }
  } catch (err) {
    self.postMessage({ id: m.id, error: (err as Error).message, name: (err as Error).name });
  }
};
