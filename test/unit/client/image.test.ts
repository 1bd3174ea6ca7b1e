/**
 * Images through the pipeline against the fake server: fixed 4 MiB chunks, zero chunks never
 * hashed and uploaded once, holes never read; restore leaves holes as holes (file) or writes
 * zeros (stdout); an unchanged image uploads nothing the second time.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { rmrf, tempDir } from "../archive/tree.ts";
import { parseArchiveSpecs } from "../../../src/client/archive-spec.ts";
import { runBackup } from "../../../src/client/backup.ts";
import { CryptConfig } from "../../../src/client/crypt.ts";
import { runRestore } from "../../../src/client/restore.ts";
import { FakeServer } from "./fake-server.ts";

const MiB = 1024 * 1024;
let dir: string;
let img: string;
let content: Buffer;

beforeAll(async () => {
  dir = await tempDir("client-img");
  img = join(dir, "disk.raw");
  // 41 MiB + 5 bytes: data in chunk 0 and chunk 6, the same 4 MiB twice (chunks 8 and 9), holes elsewhere.
  const size = 41 * MiB + 5;
  content = Buffer.alloc(size);
  randomBytes(1000).copy(content, 10);
  randomBytes(MiB).copy(content, 6 * 4 * MiB + 123);
  const same = randomBytes(4 * MiB);
  same.copy(content, 8 * 4 * MiB);
  same.copy(content, 9 * 4 * MiB);
  content.write("end", size - 3);
  const fd = fs.openSync(img, "w");
  fs.ftruncateSync(fd, size);
  for (const [at, len] of [[0, 4 * MiB], [6 * 4 * MiB, 4 * MiB], [8 * 4 * MiB, 9 * MiB + 5]] as const) fs.writeSync(fd, content, at, len, at);
  fs.closeSync(fd);
});
afterAll(() => rmrf(dir));

test("an image backs up with zero chunks stored once and restores sparse", async () => {
  const server = new FakeServer();
  const crypt = CryptConfig.none();
  const archives = parseArchiveSpecs([`disk0.img:${img}`]);
  // The layout above is in 4 MiB chunks (PBS's size); the default is 1 MiB (tested below).
  const s = await runBackup(server, { store: "local", backupType: "vm", backupId: "100", archives, crypt, encoderThreads: 1, imageChunkSize: 4 * MiB });
  // 11 chunks: 0, 6, 8, 9 (= 8) and 10 hold data, six are zero.
  expect(s.archives[0]).toMatchObject({ kind: "image", size: content.length, zeroChunks: 6 });
  // New: chunks 0, 6, 8, 10 and one zero chunk. Known: chunk 9 and five zero chunks.
  expect(s.chunksNew).toBe(5);
  expect(s.chunksKnown).toBe(6);
  // Holes are not read: chunks 0, 6, 8, 9 and the short last one.
  expect(s.bytesRead).toBe(4 * 4 * MiB + MiB + 5);
  expect(server.counts.chunkUploads).toBe(5);

  const out = join(dir, "restored.raw");
  const r = await runRestore(server, { store: "local", snapshot: s.snapshot, archive: "disk0.img", target: out, crypt });
  expect(r.zeroChunks).toBe(6);
  expect(Buffer.compare(fs.readFileSync(out), content)).toBe(0);
  expect(fs.statSync(out).blocks * 512).toBeLessThanOrEqual(5 * 4 * MiB);
  // A zero chunk is never fetched, a repeated one once.
  expect(r.chunksFetched).toBe(4);

  const piped: Uint8Array[] = [];
  await runRestore(server, {
    store: "local",
    snapshot: s.snapshot,
    archive: "disk0.img",
    target: "-",
    crypt,
    stdout: { write: async (b) => void piped.push(b.slice()), close: async () => {} },
  });
  expect(Buffer.compare(Buffer.concat(piped), content)).toBe(0);

  const again = await runBackup(server, { store: "local", backupType: "vm", backupId: "100", archives, crypt, encoderThreads: 0, imageChunkSize: 4 * MiB });
  expect(again.chunksNew).toBe(0);
  expect(again.bytesUploaded).toBe(0);
  await expect(runRestore(server, { store: "local", snapshot: s.snapshot, archive: "disk0.img", target: out, crypt })).rejects.toThrow("already exists");
}, 30_000);

test("an unchanged image file is not read again; a rewritten one, a racily new one or --change-detection data is read", async () => {
  const server = new FakeServer();
  const crypt = CryptConfig.none();
  const archives = parseArchiveSpecs([`disk0.img:${img}`]);
  // The racy-stat rule (image-stat.ts) only trusts a stat whose mtime and ctime are 2 s older
  // than the backup: pretend the backups run a minute later instead of waiting.
  const later = () => BigInt(Date.now() + 60_000) * 1_000_000n;
  const base = { store: "local", backupType: "vm" as const, backupId: "stat", archives, crypt, encoderThreads: 0, now: later, imageChunkSize: 4 * MiB };
  const first = await runBackup(server, base);
  expect(first.bytesRead).toBe(4 * 4 * MiB + MiB + 5);

  const second = await runBackup(server, base);
  expect(second.bytesRead).toBe(0);
  expect(second.chunksNew).toBe(0);
  expect(second.chunksUnread).toBe(11);
  expect(second.zeroChunks).toBe(6);
  expect(second.archives[0]).toMatchObject({ filesRead: 0, filesUnchanged: 1, bytesRead: 0 });
  // The snapshot is complete: it restores byte for byte.
  const out = join(dir, "restored-unchanged.raw");
  await runRestore(server, { store: "local", snapshot: second.snapshot, archive: "disk0.img", target: out, crypt });
  expect(Buffer.compare(fs.readFileSync(out), content)).toBe(0);

  const forced = await runBackup(server, { ...base, changeDetection: "data" });
  expect(forced.bytesRead).toBe(first.bytesRead);

  // A rewrite (same size, mtime put back) still moves ctime: read again, new data found.
  const st = fs.statSync(img);
  const fd = fs.openSync(img, "r+");
  fs.writeSync(fd, Buffer.from("changed"), 0, 7, 5 * MiB);
  fs.closeSync(fd);
  fs.utimesSync(img, st.atime, st.mtime);
  const touched = await runBackup(server, base);
  expect(touched.bytesRead).toBeGreaterThan(first.bytesRead); // chunk 1 now holds data
  expect(touched.chunksNew).toBe(1);

  // Without the clock seam the file is racily new (changed a moment ago): it is read, but no
  // stat is recorded, so the next backup reads it again although nothing changed since.
  const fd2 = fs.openSync(img, "r+");
  fs.writeSync(fd2, Buffer.from("again"), 0, 5, 5 * MiB);
  fs.closeSync(fd2);
  const racy = await runBackup(server, { ...base, now: undefined });
  expect(racy.bytesRead).toBeGreaterThan(0);
  const afterRacy = await runBackup(server, base);
  expect(afterRacy.bytesRead).toBeGreaterThan(0);
  const settled = await runBackup(server, base);
  expect(settled.bytesRead).toBe(0);
}, 30_000);

test("images are cut into 1 MiB chunks by default: a small write costs one new 1 MiB chunk", async () => {
  const server = new FakeServer();
  const crypt = CryptConfig.none();
  const file = join(dir, "small-writes.raw");
  fs.writeFileSync(file, randomBytes(6 * MiB));
  const archives = parseArchiveSpecs([`d.img:${file}`]);
  const base = { store: "local", backupType: "vm" as const, backupId: "onemib", archives, crypt, encoderThreads: 0 };
  const first = await runBackup(server, base);
  expect(first.chunks).toBe(6);
  const fd = fs.openSync(file, "r+");
  fs.writeSync(fd, Buffer.from("a small write"), 0, 13, 3 * MiB + 100);
  fs.closeSync(fd);
  const second = await runBackup(server, base);
  expect(second.chunksNew).toBe(1);
  expect(second.bytesNew).toBe(MiB);
  const out = join(dir, "small-writes-restored.raw");
  await runRestore(server, { store: "local", snapshot: second.snapshot, archive: "d.img", target: out, crypt });
  expect(Buffer.compare(fs.readFileSync(out), fs.readFileSync(file))).toBe(0);
});
