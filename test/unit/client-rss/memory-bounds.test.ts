/** What bounds the client's memory: the fetcher's two stores and the uploader's in-flight budget. */
import { describe, expect, test } from "bun:test";
import { encodeBlob } from "../../../src/datastore/blob.ts";
import { ChunkFetcher } from "../../../src/client/chunk-fetcher.ts";
import { CryptConfig } from "../../../src/client/crypt.ts";
import { ChunkUploader } from "../../../src/client/upload-pipeline.ts";
import { countingFetch } from "../client/counting-fetch.ts";

const none = CryptConfig.none();

/** Chunks `c0`..`c{n-1}` of `size` bytes each, stored as blobs, with a log of what was fetched. */
function store(n: number, size: number) {
  const blobs = new Map<string, Uint8Array>();
  const digests: string[] = [];
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(size).fill(i + 1);
    const d = none.digest(data);
    digests.push(d);
    blobs.set(d, encodeBlob(data, none.encodeOptions));
  }
  return { digests, ...countingFetch(blobs) };
}

describe("ChunkFetcher", () => {
  test("chunks fetched ahead wait until read, whatever the LRU of read chunks holds", async () => {
    const s = store(6, 1000);
    // Room in the LRU for one read chunk only: the old single LRU evicted chunks fetched ahead.
    const f = new ChunkFetcher(s.fetchRaw, none, { cacheBytes: 1000 });
    for (const d of s.digests.slice(1)) f.prefetch(d);
    expect((await f.get(s.digests[0]!))[0]).toBe(1);
    await Bun.sleep(30);
    expect(f.heldBytes).toEqual({ cached: 1000, ready: 5000 });
    for (let i = 1; i < 6; i++) expect((await f.get(s.digests[i]!))[0]).toBe(i + 1);
    expect(s.fetched.length).toBe(6); // each once
    expect(f.heldBytes).toEqual({ cached: 1000, ready: 0 }); // read chunks left the ready store
    expect(f.stats.cacheHits).toBe(5);
  });

  test("with no LRU a chunk is dropped once read, and fetched again when asked for again", async () => {
    const s = store(2, 1000);
    const f = new ChunkFetcher(s.fetchRaw, none, { cacheBytes: 0 });
    f.prefetch(s.digests[0]!);
    await f.get(s.digests[0]!);
    await f.get(s.digests[0]!);
    expect(f.heldBytes).toEqual({ cached: 0, ready: 0 });
    expect(s.fetched).toEqual([s.digests[0], s.digests[0]]);
  });

  test("chunks fetched ahead and never read are capped by readyBytes, oldest dropped first", async () => {
    const s = store(5, 1000);
    const f = new ChunkFetcher(s.fetchRaw, none, { cacheBytes: 0, readyBytes: 3000 });
    for (const d of s.digests) f.prefetch(d);
    await Bun.sleep(30);
    expect(f.heldBytes.ready).toBe(3000);
    await f.get(s.digests[4]!); // still there
    await f.get(s.digests[0]!); // dropped: fetched again
    expect(s.fetched.filter((d) => d === s.digests[0]).length).toBe(2);
    expect(s.fetched.filter((d) => d === s.digests[4]).length).toBe(1);
  });
});

describe("ChunkUploader memory budget", () => {
  /** `count` chunks of 1000 bytes through an uploader with a 3000-byte budget: the most uploads at once. */
  async function peakUploads(encode: (d: Uint8Array) => Promise<Uint8Array>, count: number, uploadMs: number) {
    let onWire = 0;
    let peak = 0;
    const u = new ChunkUploader(
      { encode },
      async () => {
        onWire++;
        peak = Math.max(peak, onWire);
        await Bun.sleep(uploadMs);
        onWire--;
      },
      { maxInFlightBytes: 3000, maxUploads: 8 },
    );
    for (let i = 0; i < count; i++) await u.add(new Uint8Array(1000).fill(i), `d${i}`);
    await u.drain();
    return { peak, stats: u.stats };
  }

  test("an encoded chunk holds only its blob's size while it uploads, so more uploads fit the budget", async () => {
    // Blobs a tenth of the plaintext (a compressible chunk).
    const { peak, stats } = await peakUploads(async (d) => d.slice(0, d.byteLength / 10), 24, 10);
    expect(stats.uploadedBytes).toBe(2400);
    // Counted as plaintext until uploaded, 3 chunks would fit; at 100 bytes each, the wire limit is reached.
    expect(peak).toBeGreaterThan(3);
    expect(peak).toBeLessThanOrEqual(8);
  });

  test("an incompressible chunk keeps its whole size until uploaded", async () => {
    const grow = async (d: Uint8Array) => {
      const b = new Uint8Array(d.byteLength + 40);
      b.set(d);
      return b;
    };
    const { peak } = await peakUploads(grow, 12, 5);
    expect(peak).toBeLessThanOrEqual(3);
  });
});
