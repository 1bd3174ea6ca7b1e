import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { parseChunkIndex } from "../../../src/datastore/chunk-index.ts";
import { sha256Hex } from "../../../src/datastore/digest.ts";
import { DynamicIndex, DynamicIndexWriter } from "../../../src/datastore/dynamic-index.ts";
import { CorruptError } from "../../../src/datastore/errors.ts";
import { FixedIndex, FixedIndexWriter } from "../../../src/datastore/fixed-index.ts";

const digest = (i: number) => sha256Hex(new TextEncoder().encode(`chunk ${i}`));

function corrupt(fn: () => unknown): CorruptError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CorruptError);
    return err as CorruptError;
  }
  throw new Error("expected CorruptError");
}

describe("fixed index", () => {
  const size = 10 * 4096 + 100; // last chunk short
  const build = () => {
    const w = new FixedIndexWriter({ size, chunkSize: 4096, ctime: 1_700_000_000, uuid: "00112233445566778899aabbccddeeff" });
    for (let i = w.chunkCount - 1; i >= 0; i--) w.set(i, digest(i)); // out of order on purpose
    return w.finish();
  };

  test("round trip with header fields, lookups and iteration", () => {
    const idx = FixedIndex.parse(build(), "disk.fidx");
    expect(idx.header).toMatchObject({ kind: "fixed", uuid: "00112233445566778899aabbccddeeff", ctime: 1_700_000_000, size, chunkSize: 4096, chunkCount: 11 });
    expect([...idx.digests()]).toEqual(Array.from({ length: 11 }, (_, i) => digest(i)));
    expect(idx.chunkAt(0)).toEqual({ index: 0, start: 0, end: 4096, digest: digest(0) });
    expect(idx.chunkAt(4096 * 3 + 5).index).toBe(3);
    expect(idx.chunkAt(size - 1)).toEqual({ index: 10, start: 40960, end: size, digest: digest(10) });
    expect(() => idx.chunkAt(size)).toThrow(RangeError);
  });

  test("empty image and unset chunks", () => {
    const empty = FixedIndex.parse(new FixedIndexWriter({ size: 0, chunkSize: 4096 }).finish(), "e.fidx");
    expect(empty.chunkCount).toBe(0);
    const w = new FixedIndexWriter({ size: 9000, chunkSize: 4096 });
    w.set(0, digest(0));
    expect(() => w.finish()).toThrow("chunk 1 of 3 was never set");
  });

  test("corruption anywhere is detected and names the file", () => {
    const good = build();
    for (const pos of [0, 4, 9, 30, 40, 60, 90, 100, good.length - 1]) {
      const bad = good.slice();
      bad[pos]! ^= 0x04;
      const err = corrupt(() => FixedIndex.parse(bad, "vm/100/t/disk.fidx"));
      expect(err.message).toStartWith("index vm/100/t/disk.fidx: ");
    }
    expect(corrupt(() => FixedIndex.parse(good.subarray(0, good.length - 32), "d.fidx")).message).toContain("truncated");
    expect(corrupt(() => FixedIndex.parse(good.subarray(0, 50), "d.fidx")).message).toContain("truncated");
    const padded = new Uint8Array(good.length + 5);
    padded.set(good);
    expect(corrupt(() => FixedIndex.parse(padded, "d.fidx")).message).toContain("unexpected bytes");
    const v2 = good.slice();
    v2[4] = 2;
    expect(corrupt(() => FixedIndex.parse(v2, "d.fidx")).message).toContain("version 2");
  });

  test("a dynamic index is not accepted as fixed", () => {
    const d = new DynamicIndexWriter();
    d.addChunk(10, digest(1));
    expect(corrupt(() => FixedIndex.parse(d.finish(), "x.fidx")).message).toContain("is a dynamic index, expected a fixed index");
  });
});

describe("dynamic index", () => {
  const lengths = Array.from({ length: 500 }, (_, i) => 1000 + ((i * 7919) % 5000));
  const build = () => {
    const w = new DynamicIndexWriter({ ctime: 42 });
    lengths.forEach((len, i) => w.addChunk(len, digest(i)));
    return w.finish();
  };
  const total = lengths.reduce((a, b) => a + b, 0);

  test("round trip; chunkAt by binary search agrees with a linear scan", () => {
    const idx = DynamicIndex.parse(build(), "root.pxar.didx");
    expect(idx.size).toBe(total);
    expect(idx.chunkCount).toBe(500);
    expect(idx.header.ctime).toBe(42);
    expect([...idx.digests()]).toEqual(lengths.map((_, i) => digest(i)));
    const starts: number[] = [];
    lengths.reduce((acc, len) => (starts.push(acc), acc + len), 0);
    for (let k = 0; k < 300; k++) {
      const offset = Math.floor(Math.random() * total);
      const expected = starts.findLastIndex((s) => s <= offset);
      const loc = idx.chunkAt(offset);
      expect(loc.index).toBe(expected);
      expect(loc.start).toBeLessThanOrEqual(offset);
      expect(loc.end).toBeGreaterThan(offset);
    }
    expect(idx.chunkAt(0).index).toBe(0);
    expect(idx.chunkAt(total - 1).index).toBe(499);
    expect(idx.uniqueDigests().size).toBe(500);
  });

  test("writer refuses empty or backwards chunks", () => {
    const w = new DynamicIndexWriter();
    w.add(100, digest(0));
    expect(() => w.add(100, digest(1))).toThrow(RangeError);
    expect(() => w.addChunk(0, digest(1))).toThrow(RangeError);
    expect(() => w.add(50, "zz")).toThrow();
  });

  test("an empty stream round-trips", () => {
    expect(DynamicIndex.parse(new DynamicIndexWriter().finish(), "e.didx").chunkCount).toBe(0);
  });

  test("corruption, truncation and foreign bytes are detected", () => {
    const good = build();
    for (let k = 0; k < 50; k++) {
      const bad = good.slice();
      const pos = Math.floor(Math.random() * bad.length);
      bad[pos]! ^= 1 << (k % 8);
      corrupt(() => DynamicIndex.parse(bad, "root.didx"));
    }
    expect(corrupt(() => DynamicIndex.parse(good.subarray(0, good.length - 40), "root.didx")).message).toContain("truncated");
    expect(corrupt(() => parseChunkIndex("root.didx", new Uint8Array(randomBytes(400)))).message).toContain("wrong magic");
  });

  test("parseChunkIndex dispatches by file name", () => {
    expect(parseChunkIndex("a.didx", build())).toBeInstanceOf(DynamicIndex);
    expect(() => parseChunkIndex("a.blob", build())).toThrow(CorruptError);
  });
});
