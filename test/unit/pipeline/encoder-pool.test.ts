import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { decodeBlob, inspectBlob } from "../../../src/datastore/blob.ts";
import { EncoderPool } from "../../../src/pipeline/encoder-pool.ts";

describe("encoder pool", () => {
  test("blobs from worker threads decode to the input, in the order asked, with and without encryption", async () => {
    const key = new Uint8Array(randomBytes(32));
    for (const cipher of [undefined, { keyId: 7, key }]) {
      const pool = new EncoderPool({ cipher }, 2);
      try {
        const inputs = Array.from({ length: 12 }, (_, i) => (i % 2 ? new Uint8Array(randomBytes(50_000 + i)) : new Uint8Array(70_000).fill(i)));
        const blobs = await Promise.all(inputs.map((d) => pool.encode(d)));
        blobs.forEach((blob, i) => {
          expect(inspectBlob(blob).kind).toBe(cipher ? (i % 2 ? 2 : 3) : i % 2 ? 0 : 1);
          expect(decodeBlob(blob, { keyLookup: cipher ? () => key : undefined })).toEqual(inputs[i]);
        });
      } finally {
        pool.close();
      }
    }
  });

  test("the caller may reuse its buffer right after encode returns", async () => {
    const pool = new EncoderPool({}, 1);
    try {
      const buf = new Uint8Array(10_000).fill(1);
      const pending = pool.encode(buf);
      buf.fill(2);
      expect(decodeBlob(await pending)).toEqual(new Uint8Array(10_000).fill(1));
    } finally {
      pool.close();
    }
  });

  test("buffers handed back by the workers carry later chunks of other sizes intact", async () => {
    const pool = new EncoderPool({}, 1);
    try {
      // Large first, then smaller and larger ones, one after the other: each reuses what came back.
      const sizes = [3_000_000, 1_000, 2_500_000, 64 * 1024, 3_000_000, 5_000_000, 17];
      for (const [i, n] of sizes.entries()) {
        const input = new Uint8Array(randomBytes(n));
        const blob = await pool.encode(input);
        expect(`${i}: ${decodeBlob(blob).length}`).toBe(`${i}: ${n}`);
        expect(decodeBlob(blob)).toEqual(input);
      }
      expect((pool as unknown as { free: Uint8Array[] }).free.length).toBeGreaterThan(0);
    } finally {
      pool.close();
    }
  });
});
