/**
 * The backup and restore pipelines end to end against the in-process fake server: a tree with
 * every entry kind, encrypted and not, restored equal; a second backup of an unchanged tree
 * reads nothing and uploads almost nothing; a changed file is picked up.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { buildTree, diffSnapshots, rmrf, snapshot, tempDir } from "../archive/tree.ts";
import { runBackup } from "../../../src/client/backup.ts";
import { parseArchiveSpecs } from "../../../src/client/archive-spec.ts";
import { CryptConfig } from "../../../src/client/crypt.ts";
import { runRestore } from "../../../src/client/restore.ts";
import { createKeyfile } from "../../../src/keys/index.ts";
import { FakeServer } from "./fake-server.ts";

let dir: string;
let src: string;

beforeAll(async () => {
  dir = await tempDir("client-rt");
  src = join(dir, "src");
  fs.mkdirSync(src);
  await buildTree(src);
});
afterAll(() => rmrf(dir));

const base = { store: "local", backupType: "host" as const, backupId: "web1", encoderThreads: 1 };

for (const mode of ["none", "encrypt"] as const) {
  describe(`crypt mode ${mode}`, () => {
    test("round trip, then an unchanged tree is not read again", async () => {
      const server = new FakeServer();
      const crypt = mode === "none" ? CryptConfig.none() : CryptConfig.encrypt(await createKeyfile(join(dir, `key-${mode}.json`), { kdf: "none" }));
      const archives = parseArchiveSpecs([`root.ibsar:${src}`]);
      const first = await runBackup(server, { ...base, archives, crypt });
      expect(first.warnings).toBe(1); // the dangling symlink
      expect(first.warningList[0]!.kind).toBe("dangling-symlink");
      expect(first.bytesRead).toBeGreaterThan(3 * 1024 * 1024);
      expect(first.previous).toBeNull();

      const out = join(dir, `restored-${mode}`);
      const r = await runRestore(server, { store: "local", snapshot: first.snapshot, archive: "root.ibsar", target: out, crypt });
      expect(r.warnings).toEqual([]);
      expect(diffSnapshots(await snapshot(src), await snapshot(out))).toEqual([]);

      const uploadedBefore = server.counts.chunkUploadBytes;
      const second = await runBackup(server, { ...base, archives, crypt });
      expect(second.previous).toBe(first.snapshot.split("/")[2]!);
      expect(second.bytesRead).toBe(0);
      expect(second.filesRead).toBe(0);
      expect(second.filesUnchanged).toBe(second.files - 1); // all but the empty file, which has nothing to read
      // New: the metadata stream (new payload offsets, new archive id) and the payload's start
      // and tail records; a few KiB, against the MiBs of file content.
      expect(server.counts.chunkUploadBytes - uploadedBefore).toBeLessThan(32 * 1024);
      expect(second.bytesUploaded).toBe(server.counts.chunkUploadBytes - uploadedBefore);
      expect(second.chunksUnread).toBeGreaterThan(0);

      const out2 = join(dir, `restored2-${mode}`);
      await runRestore(server, { store: "local", snapshot: second.snapshot, archive: "root.ibsar", target: out2, crypt });
      expect(diffSnapshots(await snapshot(src), await snapshot(out2))).toEqual([]);

      // A changed file is read and picked up; the others still are not.
      const hello = join(src, "hello.txt");
      const st = fs.statSync(hello);
      fs.writeFileSync(hello, "hello, changed archive\n");
      const third = await runBackup(server, { ...base, archives, crypt });
      // Only the changed file is read: its unchanged neighbours stay in the run (payload-reuse.ts).
      expect(third.filesRead).toBe(1);
      expect(third.bytesRead).toBe("hello, changed archive\n".length);
      const one: Uint8Array[] = [];
      await runRestore(server, {
        store: "local",
        snapshot: third.snapshot,
        archive: "root.ibsar",
        target: "-",
        file: "hello.txt",
        crypt,
        stdout: { write: async (b) => void one.push(b), close: async () => {} },
      });
      expect(Buffer.concat(one).toString()).toBe("hello, changed archive\n");
      fs.writeFileSync(hello, "hello, archive\n");
      fs.utimesSync(hello, st.atime, st.mtime);
      await rmrf(out);
      await rmrf(out2);
    }, 60_000);
  });
}

test("scattered changes in many small files: only the changed and new files are read, and it restores equal", async () => {
  const server = new FakeServer();
  const crypt = CryptConfig.none();
  const root = join(dir, "many");
  // 600 small files of 1-7 KiB, distinct content: a few payload chunks, each shared by ~100 files.
  for (let d = 0; d < 6; d++) {
    fs.mkdirSync(join(root, `d${d}`), { recursive: true });
    for (let i = 0; i < 100; i++) fs.writeFileSync(join(root, `d${d}`, `f${i}.txt`), `file ${d}/${i}\n`.repeat(60 + ((i * 37 + d) % 400)));
  }
  const archives = parseArchiveSpecs([`many.ibsar:${root}`]);
  const first = await runBackup(server, { ...base, backupId: "many", archives, crypt });
  expect(first.filesRead).toBe(600);
  // The next day: 9 files changed across the tree, 3 added, 2 deleted.
  for (const [d, i] of [[0, 3], [0, 50], [1, 17], [2, 2], [2, 98], [3, 40], [4, 1], [4, 77], [5, 60]]) {
    fs.appendFileSync(join(root, `d${d}`, `f${i}.txt`), "changed\n");
  }
  for (const n of ["new-a", "new-b", "new-c"]) fs.writeFileSync(join(root, "d3", `${n}.txt`), `${n}\n`.repeat(100));
  fs.unlinkSync(join(root, "d1", "f70.txt"));
  fs.unlinkSync(join(root, "d5", "f5.txt"));
  const second = await runBackup(server, { ...base, backupId: "many", archives, crypt });
  expect(second.filesRead).toBe(12);
  expect(second.filesUnchanged).toBe(600 - 9 - 2);
  expect(second.archives[0]!.reuse).toMatchObject({ refusedFiles: 0, overBudgetRuns: 0 });
  const out = join(dir, "many-restored");
  await runRestore(server, { store: "local", snapshot: second.snapshot, archive: "many.ibsar", target: out, crypt });
  expect(diffSnapshots(await snapshot(root), await snapshot(out))).toEqual([]);
  // Unchanged again: nothing is read, and the payload placed after the runs is reused too.
  const third = await runBackup(server, { ...base, backupId: "many", archives, crypt });
  expect(third.filesRead).toBe(0);
  await rmrf(out);
}, 60_000);

test("the key may still be unlocking: the session opens and downloads the archive's indexes first; a key that fails to unlock ends the restore", async () => {
  const server = new FakeServer();
  const crypt = CryptConfig.encrypt(await createKeyfile(join(dir, "key-late.json"), { kdf: "none" }));
  const archives = parseArchiveSpecs([`root.ibsar:${src}`]);
  const { snapshot: name } = await runBackup(server, { ...base, backupId: "late-key", archives, crypt });
  const seen: string[] = [];
  const download = server.download.bind(server);
  server.download = (path: string) => {
    seen.push(path.replace(/^\/reader\/[0-9a-f]+\//, ""));
    return download(path);
  };
  let unlock!: (c: CryptConfig) => void;
  const late = new Promise<CryptConfig>((resolve) => (unlock = resolve));
  const out = join(dir, "restored-late-key");
  const restore = runRestore(server, { store: "local", snapshot: name, archive: "root.ibsar", target: out, crypt: late });
  await Bun.sleep(20);
  expect(seen.sort()).toEqual(["file/root.mibsar.didx", "file/root.pibsar.didx"]); // no chunk before the key
  unlock(crypt);
  await restore;
  expect(diffSnapshots(await snapshot(src), await snapshot(out))).toEqual([]);
  expect(seen.filter((p) => p.startsWith("file/root.")).length).toBe(2); // fetched early, used once

  const failing = runRestore(server, { store: "local", snapshot: name, archive: "root.ibsar", target: join(dir, "never"), crypt: Promise.reject(new Error("wrong passphrase for key-late.json")) });
  await expect(failing).rejects.toThrow("wrong passphrase");
  expect(server.readers.size).toBe(0); // the session was closed
  expect(fs.existsSync(join(dir, "never"))).toBe(false);
});
