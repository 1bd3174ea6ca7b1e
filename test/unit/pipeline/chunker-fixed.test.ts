import { describe, expect, test } from "bun:test";
import { FIXED_CHUNK_SIZE_DEFAULT, FixedChunker, isAllZero, type FixedChunk } from "../../../src/pipeline/chunker-fixed.ts";
import { UsageError } from "../../../src/util/errors.ts";
import { concat, prngBytes, splitBy } from "./chunker-test-data.ts";

const KIB64 = 64 * 1024;

function chunkPieces(pieces: Uint8Array[], size?: number): FixedChunk[] {
  const c = new FixedChunker(size);
  const out: FixedChunk[] = [];
  for (const p of pieces) out.push(...c.push(p));
  out.push(...c.finish());
  return out;
}

describe("FixedChunker", () => {
  test("defaults to 4 MiB chunks; the last one is short", () => {
    const data = prngBytes(2 * FIXED_CHUNK_SIZE_DEFAULT + 123, 1);
    const chunks = chunkPieces([data]);
    expect(chunks.map((c) => [c.offset, c.data.length])).toEqual([
      [0, 4 << 20],
      [4 << 20, 4 << 20],
      [8 << 20, 123],
    ]);
    expect(concat(chunks.map((c) => c.data))).toEqual(data);
  });

  test("streaming in any piece sizes gives the same chunks", () => {
    const data = prngBytes(10 * KIB64 + 5, 2);
    const whole = chunkPieces([data], KIB64).map((c) => [c.offset, c.data.length]);
    for (const sizes of [[1000], [KIB64], [KIB64 - 1, 2], [3 * KIB64 + 7], [1, 99_999]]) {
      const chunks = chunkPieces(splitBy(data, sizes), KIB64);
      expect(chunks.map((c) => [c.offset, c.data.length])).toEqual(whole);
      expect(concat(chunks.map((c) => c.data))).toEqual(data);
    }
  });

  test("an input of whole chunks ends without an empty trailing chunk; empty input gives none", () => {
    expect(chunkPieces([prngBytes(3 * KIB64, 3)], KIB64).length).toBe(3);
    expect(chunkPieces([new Uint8Array(0)], KIB64)).toEqual([]);
    expect(chunkPieces([], KIB64)).toEqual([]);
  });

  test("all-zero chunks are flagged, including a short zero tail; any non-zero byte clears the flag", () => {
    const data = new Uint8Array(5 * KIB64 + 100);
    data.set(prngBytes(KIB64, 4), KIB64); // chunk 1 random
    data[2 * KIB64 + 12_345] = 1; // chunk 2: one byte away from zero, not at a spot the fast path checks
    data[4 * KIB64 - 1] = 0x80; // chunk 3: the very last byte
    const chunks = chunkPieces(splitBy(data, [7777]), KIB64);
    expect(chunks.map((c) => c.zero)).toEqual([true, false, false, false, true, true]);
    expect(chunks[5].data.length).toBe(100);
  });

  test("a piece the caller knows is zero (an image hole) flags its whole chunks; a chunk it shares with earlier bytes is still scanned", () => {
    const c = new FixedChunker(KIB64);
    const head = new Uint8Array(10 * 1024).fill(9);
    expect(c.push(head)).toEqual([]);
    const hole = new Uint8Array(2 * KIB64);
    const chunks = [...c.push(hole, true), ...c.finish()];
    expect(chunks.map((x) => [x.offset, x.data.length, x.zero])).toEqual([
      [0, KIB64, false],
      [KIB64, KIB64, true],
      [2 * KIB64, 10 * 1024, true],
    ]);
    // The caller's word is taken for whole chunks (that is the saving: a hole is not scanned).
    const trusting = new FixedChunker(KIB64);
    expect(trusting.push(new Uint8Array(KIB64).fill(1), true).map((x) => x.zero)).toEqual([true]);
  });

  test("isAllZero checks every byte, also past the 1 MiB comparison slices", () => {
    expect(isAllZero(new Uint8Array(0))).toBe(true);
    const big = new Uint8Array(5 * 1024 * 1024 + 3);
    expect(isAllZero(big)).toBe(true);
    for (const at of [1, 1024 * 1024, 3 * 1024 * 1024 + 17, big.length - 2]) {
      big[at] = 9;
      expect(isAllZero(big)).toBe(false);
      big[at] = 0;
    }
    // A view at an odd offset inside a larger buffer.
    const host = new Uint8Array(1000).fill(1);
    host.fill(0, 3, 997);
    expect(isAllZero(host.subarray(3, 997))).toBe(true);
    expect(isAllZero(host.subarray(2, 997))).toBe(false);
  });

  test("invalid chunk sizes are refused", () => {
    expect(() => new FixedChunker(1000)).toThrow(UsageError);
    expect(() => new FixedChunker(3 * KIB64)).toThrow(/power of two.*196608/);
    expect(() => new FixedChunker(32 << 20)).toThrow(/64 KiB to 16 MiB/);
  });
});
