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
      // The changed file is read; small unchanged neighbours may be read too (a run too small for
      // its chunk is cheaper to read than to reuse), the 3 MiB file is not.
      expect(third.filesRead).toBeGreaterThanOrEqual(1);
      expect(third.bytesRead).toBeGreaterThanOrEqual("hello, changed archive\n".length);
      expect(third.bytesRead).toBeLessThan(64 * 1024);
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
