import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { type Listing, StatAhead } from "../../../src/archive/stat-ahead.ts";
import { archive, openArchive, rmrf, treeFixture } from "./tree.ts";

const ARCHIVE_ID = new Uint8Array(16).fill(7);
let work = "";
let src = "";

beforeAll(async () => {
  ({ work, src } = await treeFixture("stat-ahead"));
});
afterAll(() => rmrf(work));

const sortedNames = (dir: string) => fs.readdirSync(dir, { encoding: "buffer" }).sort(Buffer.compare);
const bytes = (s: string) => Buffer.from(s);
const namesOf = (l: Listing) => Array.from({ length: l.count }, (_, i) => l.name(i));

describe("StatAhead (the walk taken while the backup waits)", () => {
  test("lists each directory in the writer's order with the lstat of every entry, and hands each listing over once", async () => {
    const ahead = StatAhead.start(src);
    await ahead.ended;
    const root = ahead.take(bytes(src))!;
    expect(namesOf(root)).toEqual(sortedNames(src));
    namesOf(root).forEach((name, i) => {
      const st = fs.lstatSync(Buffer.concat([bytes(src + "/"), name]), { bigint: true });
      const ahead = root.stat(i);
      expect({ name: name.toString("latin1"), ino: ahead?.ino, mtime: ahead?.mtimeNs, mode: ahead?.mode, size: ahead?.size }).toEqual({
        name: name.toString("latin1"),
        ino: st.ino,
        mtime: st.mtimeNs,
        mode: st.mode,
        size: st.size,
      });
    });
    expect(ahead.take(bytes(src))).toBeUndefined();
    const deep = ahead.take(bytes(join(src, "deep/d0/d1")));
    expect(namesOf(deep!).map(String)).toEqual(["d2"]);
    expect(ahead.count).toBeGreaterThan(root.count + 40);
  });

  test("does not enter an excluded directory and stops at maxEntries", async () => {
    const excluded = StatAhead.start(src, { exclude: ["deep"] });
    await excluded.ended;
    expect(excluded.take(bytes(src))).toBeDefined();
    expect(excluded.take(bytes(join(src, "deep")))).toBeUndefined();
    expect(excluded.take(bytes(join(src, "links")))).toBeDefined();

    const capped = StatAhead.start(src, { maxEntries: 3 });
    await capped.ended;
    expect(capped.count).toBe(3);
    const root = capped.take(bytes(src))!;
    expect(namesOf(root).filter((_, i) => root.stat(i) !== undefined).length).toBeLessThanOrEqual(3);
  });

  test("an archive written with a whole or a partial walk taken ahead is byte for byte the archive written without", async () => {
    const plain = await archive(src, { archiveId: ARCHIVE_ID });
    for (const maxEntries of [undefined, 1, 7, 50]) {
      const ahead = StatAhead.start(src, { maxEntries });
      await ahead.ended;
      const withAhead = await archive(src, { archiveId: ARCHIVE_ID, ahead });
      expect({ maxEntries, same: Buffer.from(withAhead.meta).equals(Buffer.from(plain.meta)) }).toEqual({ maxEntries, same: true });
      expect(Buffer.from(withAhead.payload).equals(Buffer.from(plain.payload))).toBe(true);
      expect(withAhead.result.counters).toEqual(plain.result.counters);
    }
  });

  test("a file removed after the walk ahead stat'ed it is a warning of the archive, not a failure", async () => {
    const victim = join(src, "with space.txt");
    const ahead = StatAhead.start(src);
    await ahead.ended;
    const content = fs.readFileSync(victim);
    fs.unlinkSync(victim);
    try {
      const a = await archive(src, { ahead });
      expect(a.result.warnings.map((w) => [w.kind, Buffer.from(w.path ?? []).toString()])).toContainEqual(["vanished", "with space.txt"]);
      const reader = await openArchive(a);
      const names: string[] = [];
      for await (const e of reader.entries()) names.push(Buffer.from(e.path).toString());
      expect(names).not.toContain("with space.txt");
      expect(names).toContain("hello.txt");
    } finally {
      fs.writeFileSync(victim, content);
    }
  });
});
