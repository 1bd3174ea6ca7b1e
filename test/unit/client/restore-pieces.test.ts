/** Restore plumbing: chunk fetching with read-ahead, the key check, archive specs, options, progress. */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { encodeBlob } from "../../../src/datastore/blob.ts";
import { DynamicIndex, DynamicIndexWriter } from "../../../src/datastore/dynamic-index.ts";
import { createManifest, describeFile } from "../../../src/datastore/manifest.ts";
import { archivesInManifest, parseArchiveSpec, parseArchiveSpecs } from "../../../src/client/archive-spec.ts";
import { ChunkFetcher } from "../../../src/client/chunk-fetcher.ts";
import { backupCrypt, repeatedOption, repositoryFrom } from "../../../src/client/connection.ts";
import { CryptConfig } from "../../../src/client/crypt.ts";
import { DecoderPool } from "../../../src/client/decoder-pool.ts";
import { IndexedStream } from "../../../src/client/indexed-stream.ts";
import { Progress, renderProgress } from "../../../src/client/progress.ts";
import { snapshotCrypt } from "../../../src/client/snapshot-key.ts";
import { Keyring } from "../../../src/keys/keyring.ts";
import { countingFetch } from "./counting-fetch.ts";

const none = CryptConfig.none();

function keyring(seed: number): CryptConfig {
  const digestKey = new Uint8Array(32).fill(seed);
  const info = { path: `/k${seed}`, fingerprint: `fp-${seed}`, kdf: "none" as const, created: "", modified: "", dataKeys: [{ id: seed, created: "", state: "active" as const, sealing: true }] };
  return CryptConfig.encrypt(new Keyring(info, digestKey, new Map([[seed, new Uint8Array(32).fill(seed + 1)]])));
}

/** A stream of `n` chunks of `size` bytes held as blobs, with a counting fetch. */
function storedStream(n: number, size: number, crypt = none) {
  const data = new Uint8Array(randomBytes(n * size));
  const w = new DynamicIndexWriter();
  const blobs = new Map<string, Uint8Array>();
  for (let i = 0; i < n; i++) {
    const c = data.subarray(i * size, (i + 1) * size);
    const d = crypt.digest(c);
    w.addChunk(size, d);
    blobs.set(d, encodeBlob(c, crypt.encodeOptions));
  }
  return { data, index: DynamicIndex.parse(w.finish(), "s"), ...countingFetch(blobs) };
}

/** A stream of 1000-byte chunks, each filled with one of `values` (equal values: one digest at several places). */
function compressibleStream(values: number[]) {
  const w = new DynamicIndexWriter();
  const blobs = new Map<string, Uint8Array>();
  for (const v of values) {
    const p = new Uint8Array(1000).fill(v);
    w.addChunk(p.length, none.digest(p));
    blobs.set(none.digest(p), encodeBlob(p, none.encodeOptions));
  }
  return { index: DynamicIndex.parse(w.finish(), "s"), blobs, ...countingFetch(blobs) };
}

describe("IndexedStream over a ChunkFetcher", () => {
  test("reads across chunk boundaries return the stream's bytes", async () => {
    const s = storedStream(6, 1000);
    const stream = new IndexedStream(s.index, new ChunkFetcher(s.fetchRaw, none), { readAheadBytes: 0 });
    expect(Buffer.compare(await stream.read(950, 2100), s.data.subarray(950, 3050))).toBe(0);
    expect(Buffer.compare(await stream.read(5990, 100), s.data.subarray(5990))).toBe(0);
    expect(s.fetched).toHaveLength(5); // chunks 0..3, then 5; 4 was never needed
  });

  test("read-ahead fetches exactly the planned chunks, each once", async () => {
    const s = storedStream(20, 1000);
    const stream = new IndexedStream(s.index, new ChunkFetcher(s.fetchRaw, none, { maxInFlight: 4 }), { readAheadBytes: 5000 });
    stream.setPlan([2, 3, 10, 11, 12]);
    await stream.read(2000, 10);
    await Bun.sleep(30);
    expect(new Set(s.fetched)).toEqual(new Set([2, 3, 10, 11, 12].map((i) => s.index.digest(i))));
    for (const at of [2500, 3500, 10_000, 11_999, 12_000]) await stream.read(at, 1);
    expect(s.fetched).toHaveLength(5);
  });

  test("a plan that jumps forward and back (files read after a reused run) is followed ahead of the reader", async () => {
    const s = storedStream(12, 1000);
    const fetcher = new ChunkFetcher(s.fetchRaw, none, { maxInFlight: 2 });
    const stream = new IndexedStream(s.index, fetcher, { readAheadBytes: 3000 });
    const plan = [0, 1, 9, 2, 3, 10, 4, 5, 11];
    stream.setPlan(plan);
    for (const [n, i] of plan.entries()) {
      await stream.read(i * 1000 + 10, 5);
      await Bun.sleep(20);
      // Everything up to three chunks past the one just read was asked for, in plan order.
      expect(s.fetched.slice(0, Math.min(plan.length, n + 4))).toEqual(plan.slice(0, n + 4).map((c) => s.index.digest(c)));
    }
    expect(s.fetched).toHaveLength(plan.length); // chunks 6, 7 and 8 are not in the plan: never fetched
    expect(fetcher.stats.cacheHits).toBeGreaterThan(0);
  });

  test("with passedChunks the cache keeps only chunks the plan comes back to, by digest", async () => {
    // Chunk 3 holds the same bytes as chunk 0 (duplicate content: one digest at two places).
    const { index, blobs } = compressibleStream([1, 2, 3, 1, 4]);
    const pieces = [1, 2, 3, 1, 4];
    const readAlong = async (passedChunks: "drop" | undefined) => {
      const c = countingFetch(blobs);
      const fetcher = new ChunkFetcher(c.fetchRaw, none, { cacheBytes: 1_000_000 });
      const stream = new IndexedStream(index, fetcher, { readAheadBytes: 0, passedChunks });
      stream.setPlan([0, 1, 2, 3, 4]);
      const held: number[] = [];
      for (let i = 0; i < 5; i++) {
        expect((await stream.read(i * 1000, 1000))[0]).toBe(pieces[i]!);
        held.push(fetcher.heldBytes.cached / 1000);
      }
      return { held, fetched: c.fetched.length };
    };
    const dropping = await readAlong("drop");
    // Chunk 1 leaves once chunk 2 is read, while chunk 0's bytes stay for their second place (3);
    // each chunk read last stays until the reader moves on.
    expect(dropping.held).toEqual([1, 2, 2, 1, 1]);
    expect(dropping.fetched).toBe(4); // the duplicate is fetched once
    const keeping = await readAlong(undefined);
    expect(keeping.held).toEqual([1, 2, 3, 3, 4]);
    expect(keeping.fetched).toBe(4);
  });

  test("with passedChunks release a dropped chunk's memory is freed at once; chunks the plan comes back to stay intact", async () => {
    // Compressible chunks: decoding makes a buffer of their own (a plain blob's plaintext is a view into it).
    const s = compressibleStream([1, 2, 3, 4]);
    const stream = new IndexedStream(s.index, new ChunkFetcher(s.fetchRaw, none), { readAheadBytes: 0, passedChunks: "release" });
    stream.setPlan([0, 1, 0, 2, 3]);
    const first0 = await stream.readSome(0, 1000);
    const first1 = await stream.readSome(1000, 1000);
    const again0 = await stream.readSome(0, 1000);
    expect(first0.byteLength).toBe(1000); // chunk 0 comes back: kept
    expect(first1.byteLength).toBe(0); // chunk 1 was passed for good: freed
    expect(again0[999]).toBe(1);
    await stream.readSome(2000, 1000);
    expect(first0.byteLength).toBe(0);
    expect(s.fetched).toHaveLength(3); // chunk 0 fetched once
  });

  test("encrypted chunks decode on worker threads and are checked against their digest", async () => {
    const k = keyring(3);
    const s = storedStream(3, 4096, k);
    const pool = new DecoderPool(k, 1);
    try {
      const stream = new IndexedStream(s.index, new ChunkFetcher(s.fetchRaw, k, { decode: (b, d) => pool.decode(b, d) }));
      expect(Buffer.compare(await stream.read(0, 3 * 4096), s.data)).toBe(0);
      const wrong = keyring(4);
      const wrongPool = new DecoderPool(wrong, 1);
      const bad = new ChunkFetcher(s.fetchRaw, wrong, { decode: (b, d) => wrongPool.decode(b, d) });
      await expect(bad.get(s.index.digest(0))).rejects.toThrow("needs data key id 3");
      wrongPool.close();
    } finally {
      pool.close();
    }
  });
});

describe("which key a snapshot needs", () => {
  const k = keyring(5);
  const files = [describeFile("a.didx", new Uint8Array(96), "encrypt")];
  const manifest = createManifest({ snapshot: { type: "host", id: "x", time: "2026-01-01T00:00:00Z" }, files, keyFingerprint: "fp-5" }, k.signKey);
  test("the right key passes the signature check; another key or none is refused by name", () => {
    expect(snapshotCrypt(manifest, "host/x/t", k)).toBe(k);
    expect(() => snapshotCrypt(manifest, "host/x/t", keyring(6))).toThrow("needs the key with fingerprint fp-5, but keyfile /k6 holds key fp-6");
    expect(() => snapshotCrypt(manifest, "host/x/t", undefined)).toThrow("is encrypted with key fp-5");
    expect(() => snapshotCrypt({ ...manifest, backup_id: "y" }, "host/x/t", k)).toThrow("signature does not match");
  });
});

describe("archive specs and options", () => {
  test("specs name a tree or an image and the files they become", () => {
    expect(parseArchiveSpec("root.ibsar:/")).toEqual({ name: "root.ibsar", kind: "tree", source: "/" });
    expect(parseArchiveSpec("vm-100-disk0.img:/dev/vg/vm-100-disk-0").kind).toBe("image");
    expect(() => parseArchiveSpec("root.tar:/")).toThrow("ending in .ibsar");
    expect(() => parseArchiveSpec("root.ibsar")).toThrow("has no ':'");
    expect(() => parseArchiveSpecs(["a.ibsar:/x", "a.ibsar:/y"])).toThrow("named twice");
    expect(archivesInManifest([{ filename: "a.mibsar.didx" }, { filename: "a.pibsar.didx" }, { filename: "d.img.fidx" }, { filename: "client.log.blob" }])).toEqual([
      { name: "a.ibsar", kind: "tree" },
      { name: "d.img", kind: "image" },
    ]);
  });

  test("repeated options, repository and crypt mode", async () => {
    expect(repeatedOption(["x", "--exclude", "/proc", "--exclude=*.tmp", "--other", "1", "--exclude", "a b"], "exclude")).toEqual(["/proc", "*.tmp", "a b"]);
    expect(() => repositoryFrom({}, {})).toThrow("no repository given");
    expect(() => repositoryFrom({ repository: "backup-host:store1" }, {})).toThrow("names no user or token");
    expect(repositoryFrom({}, { IBS_REPOSITORY: "backup@ibs!host1@backup-host:8007:store1" })).toMatchObject({ authId: "backup@ibs!host1", host: "backup-host", port: 8007, store: "store1" });
    await expect(backupCrypt({}, {})).rejects.toThrow("no keyfile for an encrypted backup");
    expect((await backupCrypt({ "crypt-mode": "none" }, {})).mode).toBe("none");
    await expect(backupCrypt({ "crypt-mode": "plain" }, {})).rejects.toThrow("expected encrypt or none");
  });
});

describe("progress", () => {
  const state = { label: "disk0.img", done: 50 * 2 ** 20, total: 100 * 2 ** 20, bytesRead: 40 * 2 ** 20, files: 1, dedupHits: 7, newBytes: 2 ** 20, uploadedBytes: 512 * 1024 };
  test("a status line has bytes, files, rate, dedup hits and an ETA", () => {
    const line = renderProgress(state, 10);
    expect(line).toContain("disk0.img: 50.0 MiB of 100 MiB");
    expect(line).toContain("40.0 MiB read");
    expect(line).toContain("5.2 MB/s");
    expect(line).toContain("7 dedup hits");
    expect(line).toContain("ETA 0:10");
  });

  test("a restore's line says what was fetched and restored, not what a backup uploads", () => {
    const line = renderProgress({ label: "tree.ibsar", done: 3 * 2 ** 20, total: 6 * 2 ** 20, fetchedBytes: 2 ** 20, files: 12 }, 1);
    expect(line).toBe("tree.ibsar: 3.00 MiB of 6.00 MiB, 1.00 MiB fetched, 12 files, 3.1 MB/s, ETA 1.00 s");
  });

  test("on a terminal the line is rewritten in place; messages stay above it", async () => {
    const out: string[] = [];
    const p = new Progress("tty", { write: (s: string) => out.push(s) });
    p.track(() => state);
    await Bun.sleep(300);
    p.say("warning: something");
    p.stop();
    expect(out[0]).toStartWith("\r\x1b[Kdisk0.img: ");
    expect(out).toContain("warning: something\n");
    expect(out[out.length - 1]).not.toContain("disk0.img"); // cleared at the end
  });
});
