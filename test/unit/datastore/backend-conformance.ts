/**
 * The behaviour every Backend must show (local now, S3 later). Run it from a *.test.ts file:
 *   runBackendConformance("local", async () => ({ backend, cleanup }))
 */
import { describe, expect, test } from "bun:test";
import { type Backend, InvalidKeyError, NotFoundError } from "../../../src/datastore/backends/backend.ts";

export interface BackendUnderTest {
  backend: Backend;
  cleanup?: () => Promise<void> | void;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function collect(backend: Backend, prefix: string) {
  const out: { key: string; size: number }[] = [];
  for await (const entry of backend.list(prefix)) out.push(entry);
  return out;
}

async function withBackend(make: () => Promise<BackendUnderTest>, fn: (b: Backend) => Promise<void>) {
  const { backend, cleanup } = await make();
  try {
    await fn(backend);
  } finally {
    await cleanup?.();
  }
}

export function runBackendConformance(name: string, makeBackend: () => Promise<BackendUnderTest>): void {
  describe(`backend conformance: ${name}`, () => {
    const t = (title: string, fn: (b: Backend) => Promise<void>, timeout?: number) =>
      test(title, () => withBackend(makeBackend, fn), timeout);

    t("put then get returns the same bytes, every byte value included", async (b) => {
      const bytes = new Uint8Array(70_000).map((_, i) => (i * 7 + 3) & 0xff);
      await b.put("a/b/c.bin", bytes);
      expect(await b.get("a/b/c.bin")).toEqual(bytes);
    });

    t("put replaces an existing object", async (b) => {
      await b.put("k", enc("old"));
      await b.put("k", enc("new and longer"));
      expect(dec(await b.get("k"))).toBe("new and longer");
      expect((await b.stat("k"))?.size).toBe(14);
    });

    t("putIfAbsent creates once; the second call says exists and leaves content unchanged", async (b) => {
      expect(await b.putIfAbsent("x/y", enc("first"))).toBe("created");
      expect(await b.putIfAbsent("x/y", enc("second"))).toBe("exists");
      expect(dec(await b.get("x/y"))).toBe("first");
    });

    t("concurrent putIfAbsent of one key: exactly one caller creates, its bytes are stored", async (b) => {
      const contents = Array.from({ length: 16 }, (_, i) => enc(`writer-${i}-`.repeat(100 + i)));
      const results = await Promise.all(contents.map((c) => b.putIfAbsent("race/key", c)));
      const winners = results.flatMap((r, i) => (r === "created" ? [i] : []));
      expect(winners.length).toBe(1);
      expect(results.filter((r) => r === "exists").length).toBe(15);
      expect(await b.get("race/key")).toEqual(contents[winners[0]!]!);
    });

    t(
      "list pages through more than 1000 keys, in key order, honouring string prefixes",
      async (b) => {
        const keys: string[] = [];
        for (let i = 0; i < 1100; i++) keys.push(`p/a/${String(i).padStart(5, "0")}`);
        for (let i = 0; i < 30; i++) keys.push(`p/ab/${i}`, `p/b/deep/er/${i}`);
        keys.push("p/a.sibling", "q/other");
        for (let i = 0; i < keys.length; i += 100) {
          await Promise.all(keys.slice(i, i + 100).map((k) => b.putIfAbsent(k, enc(k))));
        }
        const underA = await collect(b, "p/a/");
        expect(underA.length).toBe(1100);
        expect(underA.map((e) => e.key)).toEqual(keys.slice(0, 1100));
        expect(underA.every((e) => e.size === e.key.length)).toBe(true);

        const partial = (await collect(b, "p/a")).map((e) => e.key);
        expect(partial.length).toBe(1100 + 30 + 1);
        expect(partial).toContain("p/a.sibling");
        expect(partial).toContain("p/ab/7");
        expect(partial).toEqual([...partial].sort());

        const all = (await collect(b, "")).map((e) => e.key);
        expect(all).toEqual([...keys].sort());
        expect((await collect(b, "p/b/deep/")).length).toBe(30);
        expect(await collect(b, "nothing/here/")).toEqual([]);
      },
      60_000,
    );

    t("delete removes a batch; absent keys are not an error; other keys stay", async (b) => {
      for (const k of ["d/1", "d/2", "d/3", "d/keep"]) await b.put(k, enc(k));
      await b.delete(["d/1", "d/2", "d/3", "d/never-existed"]);
      expect((await collect(b, "d/")).map((e) => e.key)).toEqual(["d/keep"]);
      expect(await b.stat("d/1")).toBeNull();
      await b.delete([]);
    });

    t("stat gives size and a plausible mtime, null when absent", async (b) => {
      const before = Date.now();
      await b.put("s/obj", new Uint8Array(1234));
      const st = await b.stat("s/obj");
      expect(st?.size).toBe(1234);
      expect(st!.mtimeMs).toBeGreaterThan(before - 60_000);
      expect(st!.mtimeMs).toBeLessThan(Date.now() + 60_000);
      expect(await b.stat("s/missing")).toBeNull();
      expect(await b.stat("s")).toBeNull(); // a prefix is not an object
    });

    t("get of a missing key throws NotFoundError naming the key", async (b) => {
      const err = await b.get("no/such/key").catch((e) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err.key).toBe("no/such/key");
      expect(err.message).toContain("no/such/key");
      await b.put("dir/child", enc("c"));
      expect(await b.get("dir").catch((e) => e)).toBeInstanceOf(NotFoundError);
      if (b.getRange) expect(await b.getRange("no/such/key", 0, 4).catch((e) => e)).toBeInstanceOf(NotFoundError);
    });

    t("getRange returns the requested slice, shorter at the end", async (b) => {
      if (!b.getRange) return;
      await b.put("r", enc("0123456789"));
      expect(dec(await b.getRange("r", 2, 3))).toBe("234");
      expect(dec(await b.getRange("r", 8, 10))).toBe("89");
      expect((await b.getRange("r", 20, 5)).length).toBe(0);
    });

    t("bad keys are rejected with InvalidKeyError by every operation", async (b) => {
      const bad = ["", "/abs", "a//b", "a/../b", "..", "a/./b", "a\0b", "trailing/", "new\nline", "back\\slash"];
      for (const key of bad) {
        for (const op of [
          () => b.get(key),
          () => b.put(key, enc("x")),
          () => b.putIfAbsent(key, enc("x")),
          () => b.stat(key),
          () => b.delete([key]),
        ]) {
          const err = await op().then(
            () => null,
            (e) => e,
          );
          expect(err).toBeInstanceOf(InvalidKeyError);
        }
      }
      for (const prefix of ["/", "../", "a//", "a\0"]) {
        const err = await collect(b, prefix).catch((e) => e);
        expect(err).toBeInstanceOf(InvalidKeyError);
      }
      expect(await collect(b, "")).toEqual([]); // nothing was written by the rejected calls
    });

    t("zero-length objects are objects", async (b) => {
      await b.put("z/empty", new Uint8Array(0));
      expect(await b.putIfAbsent("z/empty2", new Uint8Array(0))).toBe("created");
      expect(await b.putIfAbsent("z/empty2", enc("not empty"))).toBe("exists");
      expect((await b.get("z/empty")).length).toBe(0);
      expect((await b.get("z/empty2")).length).toBe(0);
      expect(await b.stat("z/empty")).toMatchObject({ size: 0 });
      expect(await collect(b, "z/")).toEqual([
        { key: "z/empty", size: 0 },
        { key: "z/empty2", size: 0 },
      ]);
    });

    t("keys with characters a URL must escape round-trip unchanged", async (b) => {
      // Snapshot keys hold ':' (times); group ids may hold spaces, '+', unicode.
      const keys = ["odd/host/web 1/2026-11-26T19:00:00Z/index.json.blob", "odd/a+b=c&d!'()*~;,$@.bin", "odd/ünï/çødé ✓"];
      for (const k of keys) await b.put(k, enc(k));
      expect(await b.putIfAbsent(keys[0]!, enc("other"))).toBe("exists");
      for (const k of keys) {
        expect(dec(await b.get(k))).toBe(k);
        expect(await b.stat(k)).toMatchObject({ size: Buffer.byteLength(k) });
        if (b.getRange) expect(dec(await b.getRange(k, 0, 3))).toBe(k.slice(0, 3));
      }
      expect((await collect(b, "odd/")).map((e) => e.key).sort()).toEqual([...keys].sort());
    });
  });
}
