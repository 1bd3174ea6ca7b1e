/** The chunk cache on its own: LRU by bytes, what it caches, damaged copies, sharing between processes' handles. */
import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Database } from "bun:sqlite";
import { ChunkCache } from "../../../src/datastore/backends/s3-cache.ts";
import { openS3LocalDb } from "../../../src/datastore/backends/s3-local-db.ts";
import { tempDir } from "./s3-test-env.ts";

const dirs: string[] = [];
const dbs: Database[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(maxBytes: number, dir = tempDir()): { cache: ChunkCache; dir: string } {
  if (!dirs.includes(dir)) dirs.push(dir);
  const db = openS3LocalDb(dir);
  dbs.push(db);
  return { cache: new ChunkCache(db, dir, maxBytes), dir };
}

const chunkKey = (n: number) => {
  const digest = createHash("sha256").update(String(n)).digest("hex");
  return `.chunks/${digest.slice(0, 4)}/${digest}`;
};
const bytesOf = (n: number, size: number) => new Uint8Array(size).fill(n & 0xff);
const chunkFiles = (dir: string) => (existsSync(join(dir, "chunks")) ? readdirSync(join(dir, "chunks"), { recursive: true }).filter((p) => String(p).length > 10).length : 0);

describe("chunk cache", () => {
  test("only chunk keys are cacheable", () => {
    const k = chunkKey(1);
    expect(ChunkCache.cacheable(k)).toBe(true);
    expect(ChunkCache.cacheable(`${k}.0.bad`)).toBe(false);
    expect(ChunkCache.cacheable(`.chunks/ffff/${k.slice(-64)}`)).toBe(false); // directory must match the digest
    expect(ChunkCache.cacheable("vm/100/2026-11-26T19:00:00Z/index.json.blob")).toBe(false);
  });

  test("stays within its byte budget, evicting the least recently used first", async () => {
    const { cache, dir } = open(10_000);
    for (let i = 0; i < 4; i++) {
      cache.insert(chunkKey(i), bytesOf(i, 2000));
      await Bun.sleep(2); // distinct last-use times
    }
    expect(cache.read(chunkKey(0))).toEqual(bytesOf(0, 2000)); // 0 is now the most recently used
    await Bun.sleep(2);
    for (let i = 4; i < 6; i++) {
      cache.insert(chunkKey(i), bytesOf(i, 2000)); // the sixth goes over: evict down to 90 %
      await Bun.sleep(2);
    }
    const usage = cache.usage();
    expect(usage.bytes).toBe(8000);
    expect(usage.entries).toBe(chunkFiles(dir)); // files and index agree
    expect(cache.lookup(chunkKey(0))).not.toBeNull(); // kept: it was read
    expect(cache.lookup(chunkKey(1))).toBeNull(); // the oldest unread ones went
    expect(cache.lookup(chunkKey(2))).toBeNull();
    for (const i of [3, 4, 5]) expect(cache.lookup(chunkKey(i))).toMatchObject({ size: 2000 });
    expect(cache.read(chunkKey(1))).toBeNull();
  });

  test("objects larger than the budget, non-chunk keys and a zero budget are not cached", () => {
    const { cache } = open(1000);
    cache.insert(chunkKey(1), bytesOf(1, 1001));
    cache.insert("owner/x", bytesOf(1, 10));
    expect(cache.usage().entries).toBe(0);
    const off = open(0).cache;
    off.insert(chunkKey(2), bytesOf(2, 10));
    expect(off.lookup(chunkKey(2))).toBeNull();
  });

  test("a damaged or missing cache file is a miss and is dropped, never served", () => {
    const { cache, dir } = open(100_000);
    const k = chunkKey(42);
    cache.insert(k, bytesOf(42, 500));
    const digest = k.slice(-64);
    writeFileSync(join(dir, "chunks", digest.slice(0, 4), digest), bytesOf(7, 500)); // same size, other bytes
    expect(cache.read(k)).toBeNull();
    expect(cache.lookup(k)).toBeNull();

    cache.insert(k, bytesOf(42, 500));
    rmSync(join(dir, "chunks", digest.slice(0, 4), digest));
    expect(cache.read(k)).toBeNull();
    expect(cache.usage().entries).toBe(0);
  });

  test("two handles on one directory (two processes) share entries and one budget", () => {
    const a = open(6000);
    const b = open(6000, a.dir);
    a.cache.insert(chunkKey(1), bytesOf(1, 2500));
    b.cache.insert(chunkKey(2), bytesOf(2, 2500));
    expect(a.cache.read(chunkKey(2))).toEqual(bytesOf(2, 2500));
    a.cache.insert(chunkKey(3), bytesOf(3, 2500)); // 7500 > 6000: evict
    expect(b.cache.usage().bytes).toBeLessThanOrEqual(6000);
    b.cache.drop([chunkKey(2), chunkKey(3)]);
    expect(a.cache.lookup(chunkKey(3))).toBeNull();
  });
});
