import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExtractWriters } from "../../../src/archive/extract-writers.ts";
import type { EntryMeta, ExtractWarning } from "../../../src/archive/extract-fs.ts";

const work = mkdtempSync(join(tmpdir(), "ibs-writers-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha = (b: Uint8Array) => new Uint8Array(new Bun.CryptoHasher("sha256").update(b).digest());
const meta = (mode = 0o640): EntryMeta => ({ uid: 0, gid: 0, mode, mtimeNs: 1_700_000_000_123_456_789n, xattrs: [] });

describe.each([2, 0])("extract writers (%d threads)", (threads) => {
  const pool = (warnings: ExtractWarning[] = []) => new ExtractWriters({ owners: false, xattrs: false }, (w) => warnings.push(w), threads);
  const at = (name: string) => `${threads}-${name}`;
  const target = (name: string) => ({ abs: Buffer.from(join(work, at(name))), path: Buffer.from(name), overwrite: false });

  test("files written by the writers get their content, mode and ns mtime; a hardlink follows its target's writer", async () => {
    const w = pool();
    const datas = Array.from({ length: 40 }, (_, i) => Buffer.from(`file ${i} `.repeat(i * 100 + 1)));
    const writers: number[] = [];
    for (const [i, d] of datas.entries()) {
      const n = w.pick();
      writers.push(n);
      await w.send(n, { t: "file", ...target(`f${i}`) });
      await w.send(n, { t: "data", offset: 0, bytes: d });
      await w.send(n, { t: "close", size: d.byteLength, sha256: sha(d), payloadOffset: 0, meta: meta(0o604) });
    }
    await w.send(writers[3]!, { t: "link", first: Buffer.from(join(work, at("f3"))), ...target("f3-link") });
    await w.drain();
    w.close();
    expect(new Set(writers).size).toBe(Math.max(threads, 1));
    for (const [i, d] of datas.entries()) {
      expect(readFileSync(join(work, at(`f${i}`)))).toEqual(d);
      const st = statSync(join(work, at(`f${i}`)), { bigint: true });
      expect(Number(st.mode & 0o7777n)).toBe(0o604);
      expect(st.mtimeNs).toBe(1_700_000_000_123_456_789n);
    }
    expect(statSync(join(work, at("f3-link"))).ino).toBe(statSync(join(work, at("f3"))).ino);
  });

  test("a content mismatch removes the file and fails the extraction with the file named", async () => {
    const w = pool();
    const d = Buffer.from("the real content");
    // Inline, the failure comes at the close; with threads, at the next send or the drain.
    const after = async () => {
      await w.send(0, { t: "file", ...target("bad") });
      await w.send(0, { t: "data", offset: 0, bytes: d });
      await w.send(0, { t: "close", size: d.byteLength, sha256: sha(Buffer.from("other")), payloadOffset: 4242, meta: meta() });
      await w.send(0, { t: "file", ...target("after-bad") });
      await w.drain();
    };
    await expect(after()).rejects.toThrow(/^bad: payload record at offset 4242: content SHA-256 mismatch/);
    await w.abort();
    expect(existsSync(join(work, at("bad")))).toBe(false);
    expect(existsSync(join(work, at("after-bad")))).toBe(false);
  });

  test("an existing file is refused by name; abort removes a file left half-written on another thread", async () => {
    writeFileSync(join(work, at("taken")), "x");
    const w = pool();
    // With threads, another writer has a file open when the failure comes.
    if (threads > 1) {
      await w.send(1, { t: "file", ...target("half") });
      await w.send(1, { t: "data", offset: 0, bytes: Buffer.alloc(1000, 1) });
    }
    const taken = async () => {
      await w.send(0, { t: "file", ...target("taken") });
      await w.drain();
    };
    await expect(taken()).rejects.toThrow(/^extract taken: .*taken already exists$/);
    await w.abort();
    expect(existsSync(join(work, at("half")))).toBe(false);
    expect(readFileSync(join(work, at("taken")), "utf8")).toBe("x");
  });

  test("content in flight is bounded: sending more than the window waits for the writers", async () => {
    const w = pool();
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    const hasher = new Bun.CryptoHasher("sha256");
    await w.send(0, { t: "file", ...target("big") });
    for (let i = 0; i < 12; i++) {
      await w.send(0, { t: "data", offset: i * big.byteLength, bytes: big });
      hasher.update(big);
      // Never more than the 8 MiB window plus the piece just queued (nothing at all inline).
      expect((w as unknown as { inFlight: number }).inFlight).toBeLessThanOrEqual(8 * 1024 * 1024 + big.byteLength);
    }
    await w.send(0, { t: "close", size: 12 * big.byteLength, sha256: new Uint8Array(hasher.digest()), payloadOffset: 0, meta: meta() });
    await w.drain();
    w.close();
    expect(statSync(join(work, at("big"))).size).toBe(12 * big.byteLength);
  });
});
