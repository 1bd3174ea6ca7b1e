import { describe, expect, test } from "bun:test";
import { CDC_DEFAULTS, CdcChunker, cdcCutPoints, type CdcOptions } from "../../../src/pipeline/chunker-cdc.ts";
import { GEAR } from "../../../src/pipeline/chunker-gear.ts";
import { chunkStream, type Chunk } from "../../../src/pipeline/chunker-types.ts";
import { UsageError } from "../../../src/util/errors.ts";
import { concat, prngBytes, splitBy } from "./chunker-test-data.ts";

// Small sizes keep the tests fast while exercising the same code paths as the defaults.
const SMALL: CdcOptions = { minSize: 2048, avgSize: 8192, maxSize: 32768 };

function chunkPieces(pieces: Uint8Array[], options: Partial<CdcOptions> = SMALL): Chunk[] {
  const c = new CdcChunker(options);
  const out: Chunk[] = [];
  for (const p of pieces) out.push(...c.push(p));
  out.push(...c.finish());
  return out;
}

const ends = (chunks: Chunk[]) => chunks.map((c) => c.offset + c.data.length);
const hex = (d: Uint8Array) => new Bun.CryptoHasher("sha256").update(d).digest("hex");

describe("CdcChunker", () => {
  test("gear table and cut points are pinned (changing them breaks dedup with old backups)", () => {
    expect(Array.from(GEAR.subarray(0, 4))).toEqual([-553743090, -1181079813, 68454085, -1491808964]);
    expect(GEAR[255]).toBe(1509823489);
    expect(cdcCutPoints(prngBytes(1 << 20, 42), SMALL).slice(0, 8)).toEqual([10171, 21058, 34418, 43147, 51765, 61562, 69971, 81476]);
    expect(cdcCutPoints(prngBytes(8 << 20, 7))).toEqual([1296261, 2706127, 4123447, 5300277, 6117017, 7398271, 8388608]);
  });

  test("same boundaries however the input is split into pieces", () => {
    const data = prngBytes(3 << 20, 3);
    const reference = ends(chunkPieces([data]));
    expect(reference.length).toBeGreaterThan(100);
    const splits = [[1], [7, 1, 4093], [4096], [65537], [SMALL.minSize], [SMALL.maxSize + 1], [1, 100000, 3, 32767, 2048]];
    for (const sizes of splits) {
      const input = sizes[0] === 1 && sizes.length === 1 ? data.subarray(0, 300_000) : data;
      const expected = input === data ? reference : ends(chunkPieces([input]));
      const chunks = chunkPieces(splitBy(input, sizes));
      expect(ends(chunks)).toEqual(expected);
      expect(concat(chunks.map((c) => c.data))).toEqual(input);
    }
  });

  test("same boundaries with the default sizes, whole vs 1 MiB vs odd pieces", () => {
    const data = prngBytes(12 << 20, 11);
    const whole = ends(chunkPieces([data], {}));
    expect(ends(chunkPieces(splitBy(data, [1 << 20]), {}))).toEqual(whole);
    expect(ends(chunkPieces(splitBy(data, [333_333, 17, 2_000_001]), {}))).toEqual(whole);
  });

  test("offsets are contiguous and every chunk holds the input's bytes", () => {
    const data = prngBytes(500_000, 5);
    const chunks = chunkPieces(splitBy(data, [9999]));
    let at = 0;
    for (const c of chunks) {
      expect(c.offset).toBe(at);
      expect(c.data).toEqual(data.subarray(at, at + c.data.length));
      at += c.data.length;
    }
    expect(at).toBe(data.length);
  });

  test("min and max are respected; the average lands near the target", () => {
    const data = prngBytes(4 << 20, 9);
    const sizes = chunkPieces(splitBy(data, [50_000])).map((c) => c.data.length);
    for (const s of sizes.slice(0, -1)) {
      expect(s).toBeGreaterThanOrEqual(SMALL.minSize);
      expect(s).toBeLessThanOrEqual(SMALL.maxSize);
    }
    expect(sizes[sizes.length - 1]).toBeLessThanOrEqual(SMALL.maxSize);
    const mean = data.length / sizes.length;
    expect(mean).toBeGreaterThan(SMALL.avgSize * 0.75);
    expect(mean).toBeLessThan(SMALL.avgSize * 2);
  });

  test("low-entropy input (all zero) is cut at max, not into a flood of min-size chunks", () => {
    const sizes = chunkPieces([new Uint8Array(5 * SMALL.maxSize + 100)]).map((c) => c.data.length);
    expect(sizes).toEqual([SMALL.maxSize, SMALL.maxSize, SMALL.maxSize, SMALL.maxSize, SMALL.maxSize, 100]);
  });

  for (const [name, edit] of [
    ["an insertion", (d: Uint8Array) => concat([d.subarray(0, 1_000_000), prngBytes(100, 77), d.subarray(1_000_000)])],
    ["a deletion", (d: Uint8Array) => concat([d.subarray(0, 1_000_000), d.subarray(1_000_333)])],
  ] as const) {
    test(`boundaries realign after ${name}: most chunks stay shared`, () => {
      const original = prngBytes(2 << 20, 13);
      const edited = edit(original);
      const before = new Set(chunkPieces([original]).map((c) => hex(c.data)));
      const after = chunkPieces(splitBy(edited, [65536]));
      const changed = after.filter((c) => !before.has(hex(c.data)));
      // Only the chunk(s) touching the edit differ; everything else dedups.
      expect(changed.length).toBeGreaterThanOrEqual(1);
      expect(changed.length).toBeLessThanOrEqual(3);
      for (const c of changed) {
        expect(c.offset).toBeLessThanOrEqual(1_000_000 + 100);
        expect(c.offset + c.data.length).toBeGreaterThanOrEqual(1_000_000);
      }
      const sharedBytes = after.filter((c) => before.has(hex(c.data))).reduce((n, c) => n + c.data.length, 0);
      expect(sharedBytes / edited.length).toBeGreaterThan(0.95);
    });
  }

  test("empty input yields no chunks", () => {
    const c = new CdcChunker(SMALL);
    expect(c.push(new Uint8Array(0))).toEqual([]);
    expect(c.finish()).toEqual([]);
    expect(cdcCutPoints(new Uint8Array(0))).toEqual([]);
  });

  test("tiny input yields one short chunk; pushing it byte by byte gives the same", () => {
    const tiny = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    const one = chunkPieces([tiny]);
    expect(one.length).toBe(1);
    expect(one[0].offset).toBe(0);
    expect(one[0].data).toEqual(tiny);
    expect(chunkPieces(splitBy(tiny, [1])).map((c) => Array.from(c.data))).toEqual([Array.from(tiny)]);
  });

  test("a chunker can be reused after finish() and starts from a clean state", () => {
    const c = new CdcChunker(SMALL);
    const data = prngBytes(100_000, 21);
    const first = [...c.push(data), ...c.finish()].map((x) => x.data.length);
    c.push(prngBytes(1234, 22));
    c.finish();
    const again = [...c.push(data), ...c.finish()];
    expect(again.map((x) => x.data.length)).toEqual(first);
  });

  test("chunkStream drives a chunker over an async source", async () => {
    const data = prngBytes(200_000, 31);
    async function* source() {
      for (const p of splitBy(data, [12_345])) yield p;
    }
    const got: Chunk[] = [];
    for await (const c of chunkStream(source(), new CdcChunker(SMALL))) got.push(c);
    expect(ends(got)).toEqual(cdcCutPoints(data, SMALL));
  });

  test("invalid sizes are refused with a message naming the value", () => {
    expect(() => new CdcChunker({ ...SMALL, avgSize: 10_000 })).toThrow(UsageError);
    expect(() => new CdcChunker({ ...SMALL, avgSize: 10_000 })).toThrow(/power of two.*10000/);
    expect(() => new CdcChunker({ ...SMALL, minSize: 8192 })).toThrow(/min size.*8192/);
    expect(() => new CdcChunker({ ...SMALL, maxSize: 8192 })).toThrow(/max size.*8192/);
    expect(() => new CdcChunker({ ...SMALL, minSize: 0 })).toThrow(/min size/);
    expect(CDC_DEFAULTS.avgSize).toBe(1024 * 1024);
  });
});
