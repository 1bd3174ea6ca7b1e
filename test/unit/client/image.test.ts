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
  const s = await runBackup(server, { store: "local", backupType: "vm", backupId: "100", archives, crypt, encoderThreads: 1 });
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

  const again = await runBackup(server, { store: "local", backupType: "vm", backupId: "100", archives, crypt, encoderThreads: 0 });
  expect(again.chunksNew).toBe(0);
  expect(again.bytesUploaded).toBe(0);
  await expect(runRestore(server, { store: "local", snapshot: s.snapshot, archive: "disk0.img", target: out, crypt })).rejects.toThrow("already exists");
}, 30_000);
