import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { LocalBackend } from "../../../src/datastore/backends/local.ts";
import { BlobError, encodeBlob } from "../../../src/datastore/blob.ts";
import { ChunkStore, chunkKey } from "../../../src/datastore/chunk-store.ts";
import { chunkDigest, sha256Hex } from "../../../src/datastore/digest.ts";
import { DatastoreError } from "../../../src/datastore/errors.ts";
import { pseudoRandom, tempDir } from "./helpers.ts";

let dir: string;
let backend: LocalBackend;
let store: ChunkStore;

beforeEach(() => {
  dir = tempDir("chunks");
  backend = new LocalBackend(dir);
  store = new ChunkStore(backend);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const data = pseudoRandom(20_000, 7);
const digest = sha256Hex(data);

async function rejection(p: Promise<unknown>): Promise<BlobError> {
  const err = await p.then(
    () => null,
    (e) => e,
  );
  expect(err).toBeInstanceOf(BlobError);
  return err as BlobError;
}

describe("chunk store", () => {
  test("insert, has, get; the layout is .chunks/<4 hex>/<64 hex>", async () => {
    const result = await store.insert(digest, encodeBlob(data));
    expect(result).toMatchObject({ digest, created: true, encrypted: false });
    expect(await store.has(digest)).toBe(true);
    expect(await store.get(digest)).toEqual(data);
    expect(chunkKey(digest)).toBe(`.chunks/${digest.slice(0, 4)}/${digest}`);
    expect(await backend.stat(`.chunks/${digest.slice(0, 4)}/${digest}`)).not.toBeNull();
  });

  test("a second insert of the same chunk dedups and keeps the stored copy", async () => {
    const first = encodeBlob(data, { compress: false });
    await store.insert(digest, first);
    const again = await store.insert(digest, encodeBlob(data, { level: 5 }));
    expect(again.created).toBe(false);
    expect(await store.getRaw(digest)).toEqual(first);
  });

  test("insert refuses a chunk whose content does not match its digest", async () => {
    const err = await rejection(store.insert(sha256Hex(pseudoRandom(10, 1)), encodeBlob(data)));
    expect(err.failure).toBe("digest");
    expect(await store.has(sha256Hex(pseudoRandom(10, 1)))).toBe(false);
  });

  test("insert refuses corrupt uploads (CRC) and wrong claimed sizes", async () => {
    const blob = encodeBlob(data);
    blob[blob.length - 1]! ^= 1;
    expect((await rejection(store.insert(digest, blob))).failure).toBe("crc");
    expect((await rejection(store.insert(digest, encodeBlob(data), { size: 5 }))).failure).toBe("size");
    expect(await store.has(digest)).toBe(false);
  });

  test("encrypted chunks are accepted on CRC alone (the server has no key)", async () => {
    const key = new Uint8Array(randomBytes(32));
    const digestKey = new Uint8Array(randomBytes(32));
    const d = chunkDigest(data, digestKey);
    const blob = encodeBlob(data, { cipher: { keyId: 3, key } });
    expect((await store.insert(d, blob)).encrypted).toBe(true);
    expect(await store.get(d, { keyLookup: (id) => (id === 3 ? key : undefined), digestKey })).toEqual(data);
    // without the digest key only GCM authenticates; with the wrong digest key the name does not match
    expect(await store.get(d, { keyLookup: () => key })).toEqual(data);
    const wrong = await rejection(store.get(d, { keyLookup: () => key, digestKey: new Uint8Array(32) }));
    expect(wrong.failure).toBe("digest");
  });

  test("get detects a chunk corrupted on disk and names it", async () => {
    await store.insert(digest, encodeBlob(data));
    const stored = await backend.get(chunkKey(digest));
    stored[100]! ^= 0xff;
    await backend.put(chunkKey(digest), stored);
    const err = await rejection(store.get(digest));
    expect(err.failure).toBe("crc");
    expect(err.message).toStartWith(`chunk ${digest.slice(0, 12)}…: CRC32 mismatch`);
    expect((await rejection(store.getRaw(digest))).failure).toBe("crc");
  });

  test("markBad moves copies aside to <digest>.<n>.bad, .9 is reused when all are taken", async () => {
    for (let n = 0; n < 12; n++) {
      await store.insert(digest, encodeBlob(data));
      const key = await store.markBad(digest);
      expect(key).toBe(`${chunkKey(digest)}.${Math.min(n, 9)}.bad`);
      expect(await store.has(digest)).toBe(false);
    }
    expect(await store.markBad(digest)).toBeNull();
    const bad = [];
    for await (const b of store.listBad()) bad.push(b);
    expect(bad.map((b) => b.copy)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(bad.every((b) => b.digest === digest)).toBe(true);
    const good = [];
    for await (const c of store.list()) good.push(c);
    expect(good).toEqual([]);
  });

  test("list yields stored chunks in digest order; remove deletes a batch", async () => {
    const digests: string[] = [];
    for (let i = 0; i < 20; i++) {
      const piece = pseudoRandom(100 + i, i + 1);
      digests.push(sha256Hex(piece));
      await store.insert(sha256Hex(piece), encodeBlob(piece));
    }
    const listed = [];
    for await (const c of store.list()) listed.push(c.digest);
    expect(listed).toEqual([...digests].sort());
    await store.remove(digests.slice(0, 10));
    for (const d of digests.slice(0, 10)) expect(await store.has(d)).toBe(false);
    for (const d of digests.slice(10)) expect(await store.has(d)).toBe(true);
  });

  test("malformed digests are refused before touching the backend", async () => {
    for (const bad of ["abc", digest.toUpperCase(), `${digest.slice(0, 63)}g`, "../../etc/passwd"]) {
      expect(await store.has(bad).catch((e) => e)).toBeInstanceOf(DatastoreError);
    }
  });

  test("oversized uploads are refused", async () => {
    const small = new ChunkStore(backend, { maxChunkSize: 1000 });
    expect((await rejection(small.insert(digest, encodeBlob(data, { compress: false })))).failure).toBe("too-large");
  });
});
