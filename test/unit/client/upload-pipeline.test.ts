/** The upload end of the pipeline: dedup, bounded memory, failures named; streams into chunks and reuse. */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { DynamicIndex } from "../../../src/datastore/dynamic-index.ts";
import { DynamicIndexWriter } from "../../../src/datastore/dynamic-index.ts";
import { cdcCutPoints } from "../../../src/pipeline/chunker-cdc.ts";
import { EncoderPool } from "../../../src/pipeline/encoder-pool.ts";
import { CryptConfig } from "../../../src/client/crypt.ts";
import { DynamicStreamWriter } from "../../../src/client/dynamic-stream.ts";
import { Limiter } from "../../../src/client/limiter.ts";
import { payloadReuseSink } from "../../../src/client/payload-reuse.ts";
import { ChunkUploader } from "../../../src/client/upload-pipeline.ts";
import { GcPacer } from "../../../src/client/gc-pacer.ts";
import { ApiRequestError } from "../../../src/client/http.ts";

const inline = { encode: async (d: Uint8Array) => d.slice() };
const crypt = CryptConfig.none();

describe("Limiter", () => {
  test("hands out units in arrival order and lets an oversized request run alone", async () => {
    const l = new Limiter(10);
    const order: string[] = [];
    await l.acquire(6);
    const b = l.acquire(6).then(() => order.push("b"));
    const c = l.acquire(1).then(() => order.push("c")); // fits, but waits behind b
    await Bun.sleep(5);
    expect(order).toEqual([]);
    l.release(6);
    await Promise.all([b, c]);
    expect(order).toEqual(["b", "c"]);
    l.release(7);
    await l.acquire(50); // larger than the limit: runs when nothing else holds units
    expect(l.inUse).toBe(50);
  });
});

describe("ChunkUploader", () => {
  test("uploads a digest once, counts known chunks, and keeps in-flight bytes bounded", async () => {
    let inFlight = 0;
    let peak = 0;
    const sent: string[] = [];
    const u = new ChunkUploader(
      inline,
      async (d) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await Bun.sleep(5);
        sent.push(d);
        inFlight--;
      },
      { maxInFlightBytes: 3000, maxUploads: 8 },
    );
    for (let i = 0; i < 20; i++) await u.add(new Uint8Array(1000).fill(i % 10), `d${i % 10}`);
    await u.drain();
    expect(sent.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `d${i}`).sort());
    expect(u.stats).toMatchObject({ chunks: 20, newChunks: 10, knownChunks: 10, newBytes: 10_000, uploadedBytes: 10_000 });
    expect(peak).toBeLessThanOrEqual(3); // 3000 bytes of 1000-byte chunks
  });

  test("only new chunks pace garbage collections: known and zero chunks leave no garbage", async () => {
    const gc = new GcPacer({ everyBytes: 4000 });
    const u = new ChunkUploader(inline, async () => {}, { gc });
    for (let i = 0; i < 12; i++) await u.add(new Uint8Array(1000), "zero");
    await u.drain();
    expect(gc.stats.collections).toBe(0);
    for (let i = 0; i < 8; i++) await u.add(new Uint8Array(1000).fill(i + 1), `new${i}`);
    await u.drain();
    expect(gc.stats.collections).toBe(2);
  });

  test("an uploaded blob's memory is freed once the server has it; a failed first attempt is retried with it intact", async () => {
    const blobs: Uint8Array[] = [];
    let attempts = 0;
    const u = new ChunkUploader(inline, async (_d, blob) => {
      attempts++;
      expect(blob.byteLength).toBe(1000); // intact on every attempt, the retry's too
      if (attempts === 1) throw new Error("connection reset");
      blobs.push(blob);
    });
    await u.add(new Uint8Array(1000).fill(3), "a");
    await u.add(new Uint8Array(1000).fill(4), "b");
    await u.drain();
    expect(attempts).toBe(3);
    expect(u.stats.uploadedBytes).toBe(2000);
    expect(blobs.map((b) => b.byteLength)).toEqual([0, 0]); // released after each upload
  });

  test("the first failure stops the pipeline and names the chunk", async () => {
    const u = new ChunkUploader(inline, async (d) => {
      if (d === "bad") throw new ApiRequestError("index refused", 400, "bad_request", {});
    });
    await u.add(new Uint8Array(10), "good");
    await u.add(new Uint8Array(10), "bad");
    await expect(u.drain()).rejects.toThrow("upload chunk bad: index refused");
    await expect(u.add(new Uint8Array(10), "later")).rejects.toThrow("upload chunk bad");
  });

  test("the cause is reported, not the 'session has ended' answers that arrive before it", async () => {
    // Both answers a session gives once it is ending: gone (404), or still there but closed (409).
    const ended = (d: string) =>
      d === "a" ? new ApiRequestError("chunk a: the session is over; no more requests", 409, "session_closed", {}) : new ApiRequestError("backup session s1 does not exist or has ended", 404, "no_session", {});
    // "full" fails last, but it is why the session ended; the others were answered before it.
    const send = async (d: string) => {
      if (d === "full") {
        await Bun.sleep(30);
        throw new ApiRequestError("datastore small: no space left on device while writing chunk full", 507, "insufficient_storage", {});
      }
      await Bun.sleep(5);
      throw ended(d);
    };
    const viaDrain = new ChunkUploader(inline, send);
    for (const d of ["full", "a", "b"]) await viaDrain.add(new Uint8Array(10), d);
    await expect(viaDrain.drain()).rejects.toThrow("upload chunk full: datastore small: no space left");
    // The next add after an early "ended" waits for the uploads in flight and throws the cause too.
    const viaAdd = new ChunkUploader(inline, send);
    for (const d of ["full", "a"]) await viaAdd.add(new Uint8Array(10), d);
    await Bun.sleep(15); // "a" has failed with "ended", "full" is still on its way
    await expect(viaAdd.add(new Uint8Array(10), "c")).rejects.toThrow("no space left");
  });

  test("a Buffer view handed to the encoder threads is copied, not detached", async () => {
    const pool = new EncoderPool({}, 1);
    try {
      const piece = Buffer.allocUnsafe(64 * 1024).fill(7);
      const u = new ChunkUploader(pool, async () => {});
      await u.add(piece.subarray(0, 1000), crypt.digest(piece.subarray(0, 1000)));
      await u.drain();
      expect(piece.byteLength).toBe(64 * 1024);
      expect(piece[5000]).toBe(7);
    } finally {
      pool.close();
    }
  });
});

describe("DynamicStreamWriter", () => {
  test("cuts where the chunker cuts the whole stream, whatever the write sizes", async () => {
    const data = new Uint8Array(randomBytes(6 * 1024 * 1024 + 77));
    const u = new ChunkUploader(inline, async () => {});
    const s = new DynamicStreamWriter(u, crypt, {}, 1024 * 1024);
    for (let at = 0, step = 1; at < data.byteLength; at += step, step = (step * 7 + 13) % 300_000 || 1) {
      await s.sink(data.subarray(at, Math.min(at + step, data.byteLength)));
    }
    const idx = DynamicIndex.parse(await s.finish(), "test");
    const ends = Array.from({ length: idx.chunkCount }, (_, i) => idx.endOffset(i));
    expect(ends).toEqual(cdcCutPoints(data));
    expect(idx.digest(0)).toBe(crypt.digest(data.subarray(0, ends[0])));
  });

  test("cut() ends a chunk; appendKnown() adds chunks without bytes", async () => {
    const u = new ChunkUploader(inline, async () => {});
    const s = new DynamicStreamWriter(u, crypt);
    await s.sink(new Uint8Array(100).fill(1));
    await s.cut();
    s.appendKnown([{ length: 5000, digest: "ab".repeat(32) }]);
    await s.sink(new Uint8Array(10).fill(2));
    const idx = DynamicIndex.parse(await s.finish(), "test");
    expect([0, 1, 2].map((i) => idx.endOffset(i))).toEqual([100, 5100, 5110]);
    expect(idx.digest(1)).toBe("ab".repeat(32));
    expect(u.stats).toMatchObject({ reusedChunks: 1, reusedBytes: 5000, newChunks: 2 });
  });
});

describe("payload reuse", () => {
  const digest = (i: number) => i.toString(16).padStart(64, "0");
  const previous = (() => {
    const w = new DynamicIndexWriter();
    for (let i = 0; i < 10; i++) w.addChunk(1000, digest(i)); // chunks [0,1000) ... [9000,10000)
    return DynamicIndex.parse(w.finish(), "previous");
  })();

  test("a run becomes the previous chunks covering it, appended at the stream's position", async () => {
    const u = new ChunkUploader(inline, async () => {});
    const s = new DynamicStreamWriter(u, crypt);
    const reuse = payloadReuseSink(previous, s, { isKnown: () => true });
    await s.sink(new Uint8Array(50));
    const plan = (await reuse({ previousStart: 2100, previousEnd: 5900, newOffset: 50, files: 3, fileBytes: 3800 }))!;
    expect(plan.appended).toBe(4000); // chunks 2..5
    expect(plan.rangeStart).toBe(100);
    await plan.commit();
    expect(s.position).toBe(4050);
    const idx = DynamicIndex.parse(await s.finish(), "new");
    expect([...idx.digests()].slice(1)).toEqual([2, 3, 4, 5].map(digest));
  });

  test("costly runs share a waste budget, cheap ones always go; unknown chunks or a stream out of step are refused", async () => {
    const u = new ChunkUploader(inline, async () => {});
    const s = new DynamicStreamWriter(u, crypt);
    const reuse = payloadReuseSink(previous, s, { isKnown: (d) => d !== digest(7), wasteBudget: 1500 });
    // 10 bytes of a 1000-byte chunk: 990 bytes of waste fit the budget of 1500...
    expect(await reuse({ previousStart: 1000, previousEnd: 1010, newOffset: 0, files: 1, fileBytes: 10 })).toBeDefined();
    // ...a second such run does not (990 + 990 > 1500).
    expect(await reuse({ previousStart: 3000, previousEnd: 3010, newOffset: 0, files: 1, fileBytes: 10 })).toBeUndefined();
    // Holes inside the range count as waste too: 2000 bytes appended, 1200 of them files.
    expect(await reuse({ previousStart: 4000, previousEnd: 6000, newOffset: 0, files: 2, fileBytes: 1200 })).toBeUndefined();
    // A run wasting at most 10 % of what it appends is cheap: placed whatever the budget.
    expect(await reuse({ previousStart: 8050, previousEnd: 10000, newOffset: 0, files: 2, fileBytes: 1950 })).toBeDefined();
    expect(reuse.stats).toMatchObject({ waste: 1040, budgeted: 990, budget: 1500, overBudget: 2 });
    // A chunk the session does not know cannot be referenced.
    expect(await reuse({ previousStart: 6000, previousEnd: 8000, newOffset: 0, files: 2, fileBytes: 2000 })).toBeUndefined();
    const plan = (await reuse({ previousStart: 0, previousEnd: 3000, newOffset: 16, files: 2, fileBytes: 3000 }))!;
    await expect(plan.commit()).rejects.toThrow("the stream is at 0, the writer expected 16");
  });

  test("without a budget given, 10 % of the previous payload (at least 4 MiB) may be wasted", () => {
    const u = new ChunkUploader(inline, async () => {});
    const reuse = payloadReuseSink(previous, new DynamicStreamWriter(u, crypt), { isKnown: () => true });
    expect(reuse.stats.budget).toBe(4 * 1024 * 1024);
  });

  test("a run is extended over a hole when no whole chunk lies in it", () => {
    const u = new ChunkUploader(inline, async () => {});
    const reuse = payloadReuseSink(previous, new DynamicStreamWriter(u, crypt), { isKnown: () => true });
    expect(reuse.join(1500, 1900)).toBe(true); // same chunk: splitting would append it twice
    expect(reuse.join(1500, 2900)).toBe(true); // the next chunk: splitting saves nothing
    expect(reuse.join(1500, 3000)).toBe(false); // chunk 2 lies wholly in the hole: leave it out
    expect(reuse.join(1500, 1400)).toBe(false); // backwards
  });
});
