/**
 * Test fixtures for the archive tests: a tree holding every entry kind the format supports,
 * a snapshot of a tree's metadata for comparison, and in-memory archive plumbing.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { S_IF } from "../../../src/archive/format.ts";
import { mknod, setXattr, utimens, listXattrs } from "../../../src/archive/native.ts";
import { ArchiveReader, memorySource } from "../../../src/archive/reader.ts";
import { MemorySink } from "../../../src/archive/sinks.ts";
import { type WriteResult, type WriterOptions, writeArchive } from "../../../src/archive/writer.ts";

export const b = (s: string): Buffer => Buffer.from(s, "latin1");
export const u = (s: string): Buffer => Buffer.from(s, "utf8");

export async function tempDir(prefix: string): Promise<string> {
  return fsp.mkdtemp(join(tmpdir(), `ibs-archive-${prefix}-`));
}

export const SPARSE_SIZE = 64 << 20;
export const BIG_SIZE = 3 * 1024 * 1024 + 12345;

/** Deterministic bytes (xorshift32) for test content. */
export function pattern(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A POSIX ACL (system.posix_acl_access) granting uid 1000 rw on top of mode 0640. */
function aclXattr(): Buffer {
  const entries: Array<[tag: number, perm: number, id: number]> = [
    [0x01, 6, 0xffffffff], // user::rw-
    [0x02, 6, 1000], // user:1000:rw-
    [0x04, 4, 0xffffffff], // group::r--
    [0x10, 6, 0xffffffff], // mask::rw-
    [0x20, 0, 0xffffffff], // other::---
  ];
  const buf = Buffer.alloc(4 + 8 * entries.length);
  buf.writeUInt32LE(2, 0);
  entries.forEach(([t, p, id], i) => {
    buf.writeUInt16LE(t, 4 + 8 * i);
    buf.writeUInt16LE(p, 6 + 8 * i);
    buf.writeUInt32LE(id, 8 + 8 * i);
  });
  return buf;
}

const at = (root: string, rel: string | Buffer): Buffer => Buffer.concat([u(root), u("/"), typeof rel === "string" ? u(rel) : rel]);

/**
 * Builds the reference tree. Names include spaces, a newline and bytes that are not UTF-8.
 * Returns the relative paths (latin1 view) of the regular files with content.
 */
/** A temp work dir with the test tree built in `<work>/src`: the setup of most archive tests. */
export async function treeFixture(label: string): Promise<{ work: string; src: string }> {
  const work = await tempDir(label);
  const src = join(work, "src");
  await fsp.mkdir(src);
  await buildTree(src);
  return { work, src };
}

export async function buildTree(root: string): Promise<void> {
  const mk = (rel: string | Buffer, mode = 0o755) => fsp.mkdir(at(root, rel), { mode });
  const put = (rel: string | Buffer, data: string | Uint8Array, mode = 0o644) => fsp.writeFile(at(root, rel), data, { mode });

  await put("hello.txt", "hello, archive\n");
  await put("empty", "");
  await put("big.bin", pattern(BIG_SIZE, 7));
  await put("with space.txt", "spaces");
  await put("new\nline", "newline in the name");
  await put(b("bad-\xff\xfe-utf8"), "not utf-8 name");
  await put("ünïcödé.txt", "utf-8 name");
  await put("setuid", "#!/bin/sh\n", 0o755);
  await fsp.chmod(at(root, "setuid"), 0o4755);
  await put("nothing-allowed", "mode 000");
  await fsp.chmod(at(root, "nothing-allowed"), 0o000);

  // Deep directories.
  let deep = "deep";
  await mk(deep);
  for (let i = 0; i < 40; i++) {
    deep += `/d${i}`;
    await mk(deep);
  }
  await put(`${deep}/bottom.txt`, "at the bottom");

  // Hardlinks: three names for one inode, across directories; and a hardlinked symlink.
  await mk("links");
  await mk("other");
  await put("links/one", "shared content\n");
  await fsp.link(at(root, "links/one"), at(root, "links/two"));
  await fsp.link(at(root, "links/one"), at(root, "other/three"));
  await fsp.symlink("one", at(root, "links/sym"));
  await fsp.link(at(root, "links/sym"), at(root, "links/sym-hardlink"));

  // Symlinks, one with a target that is not UTF-8, one dangling.
  await fsp.symlink("hello.txt", at(root, "sym-rel"));
  await fsp.symlink(b("bad-\xff\xfe-utf8"), at(root, "sym-bytes"));
  await fsp.symlink("/nonexistent/target", at(root, "sym-dangling"));

  // Special files.
  await mk("dev");
  mknod(at(root, "dev/null-copy"), S_IF.chr | 0o666, (1n << 8n) | 3n);
  mknod(at(root, "dev/blockdev"), S_IF.blk | 0o660, (7n << 8n) | 9n);
  mknod(at(root, "dev/fifo"), S_IF.fifo | 0o620, 0n);
  mknod(at(root, "dev/socket"), S_IF.socket | 0o755, 0n);

  // Sparse: 64 MiB with two small data regions, and one ending in a hole.
  const fd = fs.openSync(at(root, "sparse.img"), "w");
  fs.ftruncateSync(fd, SPARSE_SIZE);
  fs.writeSync(fd, pattern(4096, 3), 0, 4096, 1 << 20);
  fs.writeSync(fd, Buffer.from("tail data"), 0, 9, SPARSE_SIZE - 9);
  fs.closeSync(fd);
  const fd2 = fs.openSync(at(root, "sparse-hole-end.img"), "w");
  fs.writeSync(fd2, Buffer.from("head"), 0, 4, 0);
  fs.ftruncateSync(fd2, 8 << 20);
  fs.closeSync(fd2);
  const fd3 = fs.openSync(at(root, "all-hole.img"), "w");
  fs.ftruncateSync(fd3, 1 << 20);
  fs.closeSync(fd3);

  // Owners, odd modes, xattrs (user, trusted, and an ACL).
  await mk("owned", 0o750);
  await put("owned/file", "owned by 1234:5678");
  await fsp.chown(at(root, "owned/file"), 1234, 5678);
  await fsp.lchown(at(root, "sym-rel"), 99, 98);
  await mk("sticky", 0o755);
  await fsp.chmod(at(root, "sticky"), 0o1777);
  await mk("readonly", 0o755);
  await put("readonly/inside", "in a read-only dir");
  setXattr(at(root, "hello.txt"), u("user.comment"), u("a comment"));
  setXattr(at(root, "hello.txt"), u("trusted.binary"), Uint8Array.of(0, 1, 2, 255));
  setXattr(at(root, "owned"), u("user.dir-attr"), u(""));
  await put("acl.txt", "with an ACL", 0o640);
  setXattr(at(root, "acl.txt"), u("system.posix_acl_access"), aclXattr());
  await fsp.chown(at(root, "owned"), 42, 43);

  // Nanosecond mtimes everywhere, set last (bottom-up so directory times stick).
  const all = await listTree(root);
  let n = 0n;
  for (const rel of all.reverse()) {
    const ns = 1_600_000_000_123_456_789n + n * 1_000_000_007n;
    n++;
    utimens(rel.length ? at(root, rel) : u(root), ns);
  }
  utimens(at(root, "empty"), -1_500_000_001n); // before 1970
  await fsp.chmod(at(root, "readonly"), 0o555);
}

/** Relative paths (bytes) of every entry under root, depth first, root first as empty. */
export async function listTree(root: string): Promise<Buffer[]> {
  const out: Buffer[] = [Buffer.alloc(0)];
  const walk = async (rel: Buffer) => {
    const abs = rel.length ? at(root, rel) : u(root);
    const names = (await fsp.readdir(abs, { encoding: "buffer" })).sort(Buffer.compare);
    for (const name of names) {
      const r = rel.length ? Buffer.concat([rel, u("/"), name]) : name;
      out.push(r);
      const st = await fsp.lstat(at(root, r));
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk(Buffer.alloc(0));
  return out;
}

export interface EntryFacts {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: bigint;
  mtimeNs: bigint;
  rdev: bigint;
  sha256?: string;
  target?: string;
  xattrs: string;
  /** Other paths sharing this inode (hardlinks), sorted. */
  links: string;
}

/** Everything restore must reproduce, keyed by the latin1 view of the relative path. */
export async function snapshot(root: string): Promise<Map<string, EntryFacts>> {
  const paths = await listTree(root);
  const byIno = new Map<bigint, string[]>();
  const facts = new Map<string, EntryFacts>();
  const inos = new Map<string, bigint>();
  for (const rel of paths) {
    const abs = rel.length ? at(root, rel) : u(root);
    const st = await fsp.lstat(abs, { bigint: true });
    const key = rel.toString("latin1");
    const type = st.isDirectory() ? "dir" : st.isFile() ? "file" : st.isSymbolicLink() ? "symlink" : st.isFIFO() ? "fifo" : st.isSocket() ? "socket" : st.isCharacterDevice() ? "chr" : "blk";
    let sha256: string | undefined;
    if (type === "file") {
      const h = createHash("sha256");
      const fh = await fsp.open(abs, "r");
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (!bytesRead) break;
        h.update(buf.subarray(0, bytesRead));
      }
      await fh.close();
      sha256 = h.digest("hex");
    }
    const xattrs = listXattrs(abs)
      .map(([k, v]) => `${Buffer.from(k).toString("latin1")}=${Buffer.from(v).toString("hex")}`)
      .join(";");
    facts.set(key, {
      type,
      mode: Number(st.mode),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === "dir" ? 0n : st.size,
      mtimeNs: st.mtimeNs,
      rdev: st.rdev,
      sha256,
      target: type === "symlink" ? (await fsp.readlink(abs, { encoding: "buffer" })).toString("latin1") : undefined,
      xattrs,
      links: "",
    });
    if (type !== "dir") {
      inos.set(key, st.ino);
      byIno.set(st.ino, [...(byIno.get(st.ino) ?? []), key]);
    }
  }
  for (const [key, ino] of inos) facts.get(key)!.links = byIno.get(ino)!.filter((k) => k !== key).sort().join("|");
  return facts;
}

export function diffSnapshots(a: Map<string, EntryFacts>, b: Map<string, EntryFacts>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w) {
      out.push(`missing: ${JSON.stringify(k)}`);
      continue;
    }
    for (const f of Object.keys(v) as (keyof EntryFacts)[]) {
      if (v[f] !== w[f]) out.push(`${JSON.stringify(k)} ${f}: ${String(v[f])} != ${String(w[f])}`);
    }
  }
  for (const k of b.keys()) if (!a.has(k)) out.push(`extra: ${JSON.stringify(k)}`);
  return out;
}

export interface MemoryArchive {
  meta: Uint8Array;
  payload: Uint8Array;
  result: WriteResult;
}

export async function archive(root: string, opts: Partial<WriterOptions> = {}, payloadSink = new MemorySink()): Promise<MemoryArchive> {
  const meta = new MemorySink();
  const result = await writeArchive({ root, metadataSink: meta.sink, payloadSink: payloadSink.sink, ...opts });
  return { meta: meta.bytes(), payload: payloadSink.bytes(), result };
}

export function openArchive(a: { meta: Uint8Array; payload: Uint8Array }): Promise<ArchiveReader> {
  return ArchiveReader.open(memorySource(a.meta), memorySource(a.payload));
}

export async function rmrf(dir: string): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
}
