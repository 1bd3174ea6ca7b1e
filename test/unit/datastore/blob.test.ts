import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { BlobError, BlobKind, chunkDigest, decodeBlob, decodeBlobAsync, encodeBlob, inspectBlob, sha256Hex } from "../../../src/datastore/blob.ts";

const key1 = new Uint8Array(randomBytes(32));
const key2 = new Uint8Array(randomBytes(32));
const digestKey = new Uint8Array(randomBytes(32));
const keys = new Map([
  [1, key1],
  [2, key2],
]);
const lookup = (id: number) => keys.get(id);
const text = new TextEncoder().encode("backup ".repeat(5000));
const random = new Uint8Array(randomBytes(10_000));

function failure(fn: () => unknown): BlobError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BlobError);
    return err as BlobError;
  }
  throw new Error("expected a BlobError");
}

describe("blob round trips", () => {
  const cases = [
    { label: "plain (incompressible)", data: random, opts: {}, kind: BlobKind.Plain },
    { label: "zstd", data: text, opts: {}, kind: BlobKind.Zstd },
    { label: "plain, compression off", data: text, opts: { compress: false }, kind: BlobKind.Plain },
    { label: "encrypted (incompressible)", data: random, opts: { cipher: { keyId: 1, key: key1 } }, kind: BlobKind.Encrypted },
    { label: "encrypted+zstd", data: text, opts: { cipher: { keyId: 2, key: key2 } }, kind: BlobKind.EncryptedZstd },
    { label: "empty plain", data: new Uint8Array(0), opts: {}, kind: BlobKind.Plain },
    { label: "empty encrypted", data: new Uint8Array(0), opts: { cipher: { keyId: 1, key: key1 } }, kind: BlobKind.Encrypted },
    { label: "zstd level 9", data: text, opts: { level: 9 }, kind: BlobKind.Zstd },
  ];
  for (const c of cases) {
    test(c.label, () => {
      const blob = encodeBlob(c.data, c.opts);
      const header = inspectBlob(blob);
      expect(header.kind).toBe(c.kind);
      expect([...blob.subarray(0, 4)]).toEqual([0x49, 0x42, 0x53, 0x42]);
      expect(blob[4]).toBe(1);
      expect(decodeBlob(blob, { keyLookup: lookup })).toEqual(c.data);
      if (header.encrypted) {
        expect(header.keyId).toBe(c.opts.cipher!.keyId);
        expect(blob.length).toBeGreaterThanOrEqual(44);
      }
    });
  }

  test("zstd is kept only when smaller", () => {
    expect(encodeBlob(text).length).toBeLessThan(text.length);
    expect(encodeBlob(random).length).toBe(random.length + 12);
  });

  test("digest checks: SHA-256 for plain, HMAC with the digest key for encrypted", () => {
    const plain = encodeBlob(text);
    expect(decodeBlob(plain, { expectedDigest: sha256Hex(text) })).toEqual(text);
    const sealed = encodeBlob(text, { cipher: { keyId: 1, key: key1 } });
    const keyed = chunkDigest(text, digestKey);
    expect(keyed).not.toBe(sha256Hex(text));
    expect(decodeBlob(sealed, { keyLookup: lookup, expectedDigest: keyed, digestKey })).toEqual(text);
    expect(failure(() => decodeBlob(sealed, { keyLookup: lookup, expectedDigest: keyed })).failure).toBe("digest-key-required");
    const wrong = failure(() => decodeBlob(plain, { name: "chunk abc", expectedDigest: sha256Hex(random) }));
    expect(wrong.failure).toBe("digest");
    expect(wrong.message).toStartWith("chunk abc: digest mismatch");
  });

  test("encryption uses a fresh IV: same input, different ciphertexts", () => {
    const a = encodeBlob(text, { cipher: { keyId: 1, key: key1 } });
    const b = encodeBlob(text, { cipher: { keyId: 1, key: key1 } });
    expect(Buffer.from(a.subarray(16, 28)).equals(Buffer.from(b.subarray(16, 28)))).toBe(false);
  });
});

describe("blob corruption is detected and named", () => {
  const name = "chunk 0123abcd…";

  test("flipped byte in the payload: CRC mismatch (every kind)", () => {
    for (const opts of [{}, { cipher: { keyId: 1, key: key1 } }]) {
      for (const data of [text, random]) {
        const blob = encodeBlob(data, opts);
        blob[blob.length - 5]! ^= 0x10;
        const err = failure(() => decodeBlob(blob, { name, keyLookup: lookup }));
        expect(err.failure).toBe("crc");
        expect(err.message).toMatch(/^chunk 0123abcd…: CRC32 mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)/);
        expect(err.blob).toBe(name);
      }
    }
  });

  test("flipped IV/tag/key id bytes: CRC mismatch", () => {
    for (const pos of [12, 20, 30]) {
      const blob = encodeBlob(text, { cipher: { keyId: 1, key: key1 } });
      blob[pos]! ^= 1;
      expect(failure(() => decodeBlob(blob, { keyLookup: lookup })).failure).toBe("crc");
    }
  });

  test("tampered ciphertext with a recomputed CRC: authentication failure", () => {
    const blob = encodeBlob(text, { cipher: { keyId: 1, key: key1 } });
    blob[50]! ^= 1;
    new DataView(blob.buffer).setUint32(8, Bun.hash.crc32(blob.subarray(12)) >>> 0, true);
    const err = failure(() => decodeBlob(blob, { name, keyLookup: lookup }));
    expect(err.failure).toBe("auth");
  });

  test("kind byte changed (outside the CRC, bound by the GCM associated data): authentication failure", () => {
    const blob = encodeBlob(random, { cipher: { keyId: 1, key: key1 } });
    blob[5] = BlobKind.EncryptedZstd;
    expect(failure(() => decodeBlob(blob, { keyLookup: lookup })).failure).toBe("auth");
  });

  test("truncated: shorter than a header, and mid-payload", () => {
    const blob = encodeBlob(text);
    expect(failure(() => decodeBlob(blob.subarray(0, 7), { name })).failure).toBe("truncated");
    expect(failure(() => decodeBlob(new Uint8Array(0))).failure).toBe("truncated");
    expect(failure(() => decodeBlob(blob.subarray(0, blob.length - 3))).failure).toBe("crc");
    const sealed = encodeBlob(text, { cipher: { keyId: 1, key: key1 } });
    const err = failure(() => decodeBlob(sealed.subarray(0, 30), { name }));
    expect(err.failure).toBe("truncated");
    expect(err.message).toContain("encrypted blob header needs 44");
  });

  test("wrong magic", () => {
    const blob = encodeBlob(text);
    blob[0] = 0x50;
    const err = failure(() => decodeBlob(blob, { name }));
    expect(err.failure).toBe("magic");
    expect(err.message).toContain("not an IBS blob");
  });

  test("wrong version", () => {
    const blob = encodeBlob(text);
    blob[4] = 2;
    const err = failure(() => decodeBlob(blob, { name }));
    expect(err.failure).toBe("version");
    expect(err.message).toContain("unsupported blob format version 2");
  });

  test("unknown kind and non-zero reserved bytes", () => {
    const blob = encodeBlob(text);
    blob[5] = 9;
    expect(failure(() => decodeBlob(blob)).failure).toBe("kind");
    const blob2 = encodeBlob(text);
    blob2[7] = 1;
    expect(failure(() => decodeBlob(blob2)).failure).toBe("reserved");
  });

  test("wrong key id: the keyring lacks it", () => {
    const blob = encodeBlob(text, { cipher: { keyId: 7, key: key1 } });
    const err = failure(() => decodeBlob(blob, { name, keyLookup: lookup }));
    expect(err.failure).toBe("unknown-key");
    expect(err.message).toBe("chunk 0123abcd…: blob needs data key id 7 which this keyring lacks");
    expect(failure(() => decodeBlob(blob)).failure).toBe("key-required");
  });

  test("wrong key under a known id: authentication failure", () => {
    const blob = encodeBlob(text, { cipher: { keyId: 1, key: key2 } });
    const err = failure(() => decodeBlob(blob, { name, keyLookup: lookup }));
    expect(err.failure).toBe("auth");
    expect(err.message).toContain("data key id 1");
  });

  test("corrupt zstd frame with a valid CRC: zstd failure", () => {
    const blob = encodeBlob(text);
    blob[30]! ^= 0xff;
    blob[31]! ^= 0xff;
    new DataView(blob.buffer).setUint32(8, Bun.hash.crc32(blob.subarray(12)) >>> 0, true);
    expect(failure(() => decodeBlob(blob)).failure).toBe("zstd");
  });

  test("decompression bomb: declared size above the limit is refused before inflating", () => {
    const blob = encodeBlob(new Uint8Array(1 << 20));
    expect(failure(() => decodeBlob(blob, { maxDecodedSize: 1000 })).failure).toBe("too-large");
    expect(decodeBlob(blob).length).toBe(1 << 20);
  });

  test("checks run in spec order: magic before CRC", () => {
    const blob = encodeBlob(text);
    blob[0] = 0;
    blob[40]! ^= 1;
    expect(failure(() => decodeBlob(blob)).failure).toBe("magic");
  });
});

describe("decodeBlobAsync (zstd on the thread pool) decodes and refuses exactly as decodeBlob", () => {
  async function asyncFailure(p: Promise<unknown>): Promise<BlobError> {
    const err = await p.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BlobError);
    return err as BlobError;
  }

  test("round trips of plain and zstd blobs, with the digest checked", async () => {
    for (const data of [text, random, new Uint8Array(0)]) {
      const blob = encodeBlob(data);
      const out = await decodeBlobAsync(blob, { expectedDigest: sha256Hex(data) });
      expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
    }
    const sealed = encodeBlob(text, { cipher: { keyId: 2, key: key2 } });
    expect(Buffer.from(await decodeBlobAsync(sealed, { keyLookup: lookup, digestKey, expectedDigest: chunkDigest(text, digestKey) })).equals(Buffer.from(text))).toBe(true);
  });

  test("CRC, digest, zstd and size failures are the same BlobErrors", async () => {
    const flipped = encodeBlob(text);
    flipped[flipped.length - 1]! ^= 1;
    expect((await asyncFailure(decodeBlobAsync(flipped))).failure).toBe("crc");

    const wrong = await asyncFailure(decodeBlobAsync(encodeBlob(text), { name: "chunk x", expectedDigest: sha256Hex(random) }));
    expect(wrong.failure).toBe("digest");
    expect(wrong.message).toStartWith("chunk x: digest mismatch");

    const broken = encodeBlob(text);
    broken[30]! ^= 0xff;
    broken[31]! ^= 0xff;
    new DataView(broken.buffer).setUint32(8, Bun.hash.crc32(broken.subarray(12)) >>> 0, true);
    expect((await asyncFailure(decodeBlobAsync(broken))).failure).toBe("zstd");

    expect((await asyncFailure(decodeBlobAsync(encodeBlob(new Uint8Array(1 << 20)), { maxDecodedSize: 1000 }))).failure).toBe("too-large");
    expect((await asyncFailure(decodeBlobAsync(encodeBlob(text, { cipher: { keyId: 1, key: key1 } }), { digestKey, expectedDigest: "00".repeat(32) }))).failure).toBe("key-required");
  });
});
