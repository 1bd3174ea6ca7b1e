/** The CDC chunker with one kept buffer (reuseBuffer): the same chunks, no fresh memory per piece. */
import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { CdcChunker, cdcCutPoints } from "../../../src/pipeline/chunker-cdc.ts";

const SMALL = { minSize: 1024, avgSize: 4096, maxSize: 16384 };

/** Pushes `data` through one reused piece buffer the way DynamicStreamWriter does; copies every chunk at once. */
function chunkThroughOneBuffer(data: Uint8Array, pieceSizes: number[], c: CdcChunker): { chunks: Uint8Array[]; spanning: number } {
  const piece = new Uint8Array(Math.max(...pieceSizes));
  const chunks: Uint8Array[] = [];
  let spanning = 0;
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = Math.min(pieceSizes[i % pieceSizes.length]!, data.length - at);
    piece.set(data.subarray(at, at + n));
    for (const ch of c.push(piece.subarray(0, n))) {
      if (ch.data.buffer !== piece.buffer) spanning++;
      chunks.push(ch.data.slice());
    }
    c.detachPending();
    piece.fill(0xee); // the caller overwrites its buffer: detached bytes must not change
    at += n;
  }
  for (const ch of c.finish()) chunks.push(ch.data.slice());
  return { chunks, spanning };
}

test("with a kept buffer the chunks are those of the whole input, through a reused piece buffer", () => {
  const data = new Uint8Array(randomBytes(300_000));
  const ends = cdcCutPoints(data, SMALL);
  for (const sizes of [[5000], [1000, 7, 20000], [100_000], [16384, 16385]]) {
    const { chunks, spanning } = chunkThroughOneBuffer(data, sizes, new CdcChunker(SMALL, true));
    let at = 0;
    expect(chunks.map((ch) => (at += ch.length))).toEqual(ends);
    expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true);
    expect(spanning).toBeGreaterThan(0); // the kept buffer was used
  }
});

test("a chunker reused after finish() with its kept buffer cuts the next input like a new one", () => {
  const c = new CdcChunker(SMALL, true);
  const a = new Uint8Array(randomBytes(50_000));
  const b = new Uint8Array(randomBytes(70_000));
  chunkThroughOneBuffer(a, [3000], c);
  const { chunks } = chunkThroughOneBuffer(b, [3000], c);
  let at = 0;
  expect(chunks.map((ch) => (at += ch.length))).toEqual(cdcCutPoints(b, SMALL));
});
