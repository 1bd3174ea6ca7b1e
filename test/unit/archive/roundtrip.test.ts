import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { FLAG } from "../../../src/archive/format.ts";
import { formatPath } from "../../../src/archive/paths.ts";
import { ArchiveReader, describeEntry, extractArchive, fileSource } from "../../../src/archive/reader.ts";
import { BIG_SIZE, SPARSE_SIZE, type MemoryArchive, archive, b, diffSnapshots, openArchive, rmrf, snapshot, treeFixture } from "./tree.ts";

let work: string;
let src: string;
let arc: MemoryArchive;

beforeAll(async () => {
  ({ work, src } = await treeFixture("roundtrip"));
  arc = await archive(src);
});

afterAll(() => rmrf(work));

describe("archive round trip", () => {
  test("writer counts every kind and reads only stored data", () => {
    const c = arc.result.counters;
    expect(c.dirs).toBe(1 + 41 + 2 + 1 + 3); // root; deep and its 40 levels; links, other; dev; owned, sticky, readonly
    expect(c.symlinks).toBe(4);
    expect(c.hardlinks).toBe(3); // links/two, other/three, links/sym-hardlink
    expect(c.devices).toBe(2);
    expect(c.fifos).toBe(1);
    expect(c.sockets).toBe(1);
    // Sparse files contribute only their data regions: far less than their 72 MiB.
    expect(c.bytesRead).toBeLessThan(BIG_SIZE + 64 * 1024);
    expect(c.filesReused).toBe(0);
    expect(arc.result.metadataLength).toBe(arc.meta.byteLength);
    expect(arc.result.payloadLength).toBe(arc.payload.byteLength);
  });

  test("only the dangling symlink is warned about", () => {
    expect(arc.result.warnings.map((w) => w.kind)).toEqual(["dangling-symlink"]);
    expect(arc.result.warnings[0].message).toContain("sym-dangling");
  });

  test("listing shows every entry once, in depth-first sorted order, with raw names", async () => {
    const r = await openArchive(arc);
    const paths: Buffer[] = [];
    for await (const e of r.entries()) paths.push(Buffer.from(e.path));
    const expected = (await import("./tree.ts")).listTree(src);
    expect(paths.map((p) => p.toString("latin1"))).toEqual((await expected).map((p) => p.toString("latin1")));
    expect(paths.some((p) => p.equals(b("bad-\xff\xfe-utf8")))).toBe(true);
    expect(r.entryCount).toBe(paths.length);
  });

  test("lookup finds entries by path, including odd names, and misses cleanly", async () => {
    const r = await openArchive(arc);
    const hello = await r.lookup("hello.txt");
    expect(hello?.kind).toBe("file");
    expect(hello?.size).toBe(15);
    expect(hello?.xattrs.map(([k]) => Buffer.from(k).toString())).toEqual(["trusted.binary", "user.comment"]);
    expect((await r.lookup(b("bad-\xff\xfe-utf8")))?.kind).toBe("file");
    expect(describeEntry((await r.lookup(b("bad-\xff\xfe-utf8")))!)).toBe("- 0644 0/0 14 bad-\\xff\\xfe-utf8");
    expect(describeEntry((await r.lookup("sym-rel"))!)).toBe("l 0777 99/98 9 sym-rel -> hello.txt");
    expect(describeEntry((await r.lookup("new\nline"))!)).toBe("- 0644 0/0 19 new\\x0aline");
    expect((await r.lookup("new\nline"))?.size).toBe(19);
    const bottom = await r.lookup(`deep/${Array.from({ length: 40 }, (_, i) => `d${i}`).join("/")}/bottom.txt`);
    expect(bottom?.kind).toBe("file");
    expect(await r.lookup("deep/nope")).toBeUndefined();
    expect(await r.lookup("hello.txt/below-a-file")).toBeUndefined();
    const two = await r.lookup("links/two");
    expect(two?.kind).toBe("hardlink");
    expect(Buffer.from(two!.hardlink!.targetPath).toString()).toBe("links/one");
    const one = await r.lookup("links/one");
    expect(one!.flags & FLAG.hardlinkTarget).toBe(FLAG.hardlinkTarget);
    const dev = await r.lookup("dev/blockdev");
    expect(dev?.device).toEqual({ major: 7, minor: 9 });
    const names = (await r.readDir((await r.lookup("dev"))!)).map((e) => formatPath(e.name));
    expect(names).toEqual(["blockdev", "fifo", "null-copy", "socket"]);
  });

  test("file content streams back verified, holes as zeros, hardlinks through their target", async () => {
    const r = await openArchive(arc);
    const read = async (p: string) => {
      const parts: Uint8Array[] = [];
      for await (const piece of r.fileContent((await r.lookup(p))!)) parts.push(piece);
      return Buffer.concat(parts);
    };
    expect((await read("hello.txt")).toString()).toBe("hello, archive\n");
    expect((await read("other/three")).toString()).toBe("shared content\n");
    expect((await read("empty")).byteLength).toBe(0);
    const sparse = await read("sparse.img");
    expect(sparse.byteLength).toBe(SPARSE_SIZE);
    expect(sparse.subarray(SPARSE_SIZE - 9).toString()).toBe("tail data");
    expect(sparse.subarray(0, 1 << 20).every((x) => x === 0)).toBe(true);
    const entry = (await r.lookup("sparse.img"))!;
    expect(entry.file!.payloadLength).toBeLessThan(64 * 1024);
    expect(entry.file!.extents!.length).toBe(2);
    expect((await r.lookup("all-hole.img"))!.file!.payloadLength).toBe(0);
  });

  test("payload stream validates on its own", async () => {
    const r = await openArchive(arc);
    const p = await r.checkPayload();
    expect(p.gapRecords).toBe(0);
    // Every regular file with stored bytes has one record; hardlinks and empty files have none.
    let withData = 0;
    for await (const e of r.entries()) if (e.kind === "file" && e.file!.payloadLength > 0) withData++;
    expect(p.fileRecords).toBe(withData);
  });

  test("extract restores content, modes, owners, ns mtimes, xattrs, ACLs, links, devices and holes", async () => {
    const r = await openArchive(arc);
    const out = join(work, "out-full");
    const res = await extractArchive(r, out);
    expect(res.warnings.map((w) => w.message)).toEqual([]);
    const before = await snapshot(src);
    const after = await snapshot(out);
    expect(diffSnapshots(before, after)).toEqual([]);
    // Sanity: the comparison really covers what it claims.
    expect(after.get("owned/file")!.uid).toBe(1234);
    expect(after.get("setuid")!.mode & 0o7777).toBe(0o4755);
    expect(after.get("acl.txt")!.xattrs).toContain("system.posix_acl_access=");
    expect(after.get("empty")!.mtimeNs).toBe(-1_500_000_001n);
    expect(after.get("links/one")!.links).toBe("links/two|other/three");
    const st = await fsp.stat(join(out, "sparse.img"), { bigint: true });
    expect(st.size).toBe(BigInt(SPARSE_SIZE));
    expect(st.blocks * 512n).toBeLessThan(1n << 20n);
    const st2 = await fsp.stat(join(out, "sparse-hole-end.img"), { bigint: true });
    expect(st2.blocks * 512n).toBeLessThan(1n << 20n);
    expect(res.counters.bytesWritten).toBeLessThan(BIG_SIZE + 64 * 1024);
  });

  test("extract with a pattern creates only the selection and its parents", async () => {
    const r = await openArchive(arc);
    const out = join(work, "out-pattern");
    const res = await extractArchive(r, out, { patterns: ["links/**", "owned/file", "nope/**"] });
    expect(res.unmatchedPatterns).toEqual(["nope/**"]);
    const got = (await (await import("./tree.ts")).listTree(out)).map((p) => p.toString("latin1"));
    expect(got).toEqual(["", "links", "links/one", "links/sym", "links/sym-hardlink", "links/two", "owned", "owned/file"]);
    expect((await fsp.stat(join(out, "owned/file"))).uid).toBe(1234);
    expect((await fsp.stat(join(out, "links/one"))).nlink).toBe(2);
    // The parent created for the selection carries its archived metadata.
    const srcLinks = await fsp.stat(join(src, "links"), { bigint: true });
    expect((await fsp.stat(join(out, "links"), { bigint: true })).mtimeNs).toBe(srcLinks.mtimeNs);
  });

  test("a hardlink whose first name is not selected gets the content itself", async () => {
    const r = await openArchive(arc);
    const out = join(work, "out-hardlink");
    await extractArchive(r, out, { patterns: ["other/three"] });
    expect(await fsp.readFile(join(out, "other/three"), "utf8")).toBe("shared content\n");
  });

  test("extract refuses to overwrite existing files unless asked", async () => {
    const r = await openArchive(arc);
    const out = join(work, "out-exists");
    await fsp.mkdir(out);
    await fsp.writeFile(join(out, "hello.txt"), "already here");
    await expect(extractArchive(r, out)).rejects.toThrow(/hello\.txt.*already exists/);
    const out2 = join(work, "out-overwrite");
    await fsp.mkdir(out2);
    await fsp.writeFile(join(out2, "hello.txt"), "already here");
    await extractArchive(r, out2, { overwrite: true });
    expect(await fsp.readFile(join(out2, "hello.txt"), "utf8")).toBe("hello, archive\n");
  });

  test("an aborted signal stops the writer", async () => {
    await expect(archive(src, { signal: AbortSignal.abort() })).rejects.toThrow(/abort/i);
  });

  test("archives of the same unchanged tree are byte-identical apart from the archive id", async () => {
    const id = new Uint8Array(16).fill(9);
    const a1 = await archive(src, { archiveId: id });
    const a2 = await archive(src, { archiveId: id });
    expect(Buffer.compare(a1.meta, a2.meta)).toBe(0);
    expect(Buffer.compare(a1.payload, a2.payload)).toBe(0);
  });
});

describe("file-backed streams", () => {
  test("an archive stored as two files reads back through fileSource", async () => {
    await Bun.write(join(work, "root.mibsar"), arc.meta);
    await Bun.write(join(work, "root.pibsar"), arc.payload);
    const meta = await fileSource(join(work, "root.mibsar"));
    const payload = await fileSource(join(work, "root.pibsar"));
    try {
      const r = await ArchiveReader.open(meta, payload);
      let n = 0;
      for await (const _ of r.entries()) n++;
      expect(n).toBe(r.entryCount);
      const parts: Uint8Array[] = [];
      for await (const p of r.fileContent((await r.lookup("big.bin"))!)) parts.push(p);
      expect(Buffer.concat(parts).byteLength).toBe(BIG_SIZE);
    } finally {
      await meta.close();
      await payload.close();
    }
  });
});

describe("scanner", () => {
  test("skipping a subtree jumps to its goodbye table and still closes it", async () => {
    const r = await openArchive(arc);
    const s = r.scan();
    const events: string[] = [];
    for (let ev = await s.next(); ev; ev = await s.next()) {
      const p = formatPath(ev.entry.path);
      if (ev.entry.kind === "dir" || p === "links/one") events.push(`${ev.type} ${p}`);
      if (ev.type === "entry" && p === "deep") await s.skipSubtree();
    }
    expect(events.slice(0, 4)).toEqual(["entry /", "entry deep", "end deep", "entry dev"]);
    expect(events).toContain("entry links/one");
    expect(events.at(-1)).toBe("end /");
  });
});
