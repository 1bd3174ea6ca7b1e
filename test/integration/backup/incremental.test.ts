/**
 * Change detection through the real client and server: a second backup of an unchanged tree
 * reads no file contents and uploads almost nothing; changed files are picked up; a file that
 * changes while it is read, and an exclude pattern that matches nothing, are warnings: the
 * snapshot completes, the task ends `WARNINGS: N`, the client log names each one.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { BIG_SIZE, buildTree } from "../../unit/archive/tree.ts";
import { type BackupNode, listedSnapshots, startBackupNode } from "./backup-fixture.ts";

let node: BackupNode;
let src: string;

beforeAll(async () => {
  node = await startBackupNode();
  src = join(fs.mkdtempSync(join(node.dir, "work-")), "src");
  fs.mkdirSync(src);
  await buildTree(src);
}, 120_000);

afterAll(() => node?.stop());

const backup = (...extra: string[]) => node.clientJson(["backup", `data.ibsar:${src}`, "--backup-id", "inc", ...extra]);

test("an unchanged tree is not read again; changed files are", () => {
  const first = backup();
  expect(first.previous).toBeNull();
  expect(first.bytesRead).toBeGreaterThanOrEqual(BIG_SIZE);

  const second = backup();
  expect(second.previous).toBe(first.snapshot.split("/")[2]);
  expect(second.bytesRead).toBe(0);
  expect(second.filesRead).toBe(0);
  expect(second.chunksUnread).toBeGreaterThan(0);
  expect(second.bytesUploaded).toBeLessThan(64 * 1024); // the new metadata stream, payload start and tail
  expect(second.bytesUploaded).toBeLessThan(first.bytesUploaded / 20);

  // A changed small file and a changed big one are read (and nothing else of size).
  fs.writeFileSync(join(src, "hello.txt"), "hello, second version\n");
  const big = fs.readFileSync(join(src, "big.bin"));
  big[1000] ^= 0xff;
  fs.writeFileSync(join(src, "big.bin"), big);
  const third = backup();
  expect(third.bytesRead).toBeGreaterThanOrEqual(BIG_SIZE);
  expect(third.bytesRead).toBeLessThan(BIG_SIZE + 256 * 1024);
  const hello = node.client(["restore", third.snapshot, "data.ibsar", "--file", "hello.txt", "-"]);
  expect(hello.stdout).toBe("hello, second version\n");
  const out = join(node.dir, "big.restored");
  node.clientJson(["restore", third.snapshot, "data.ibsar", "--file", "big.bin", out]);
  expect(Buffer.compare(fs.readFileSync(out), big)).toBe(0);

  // --change-detection data reads everything again.
  const full = backup("--change-detection", "data");
  expect(full.filesUnchanged).toBe(0);
  expect(full.bytesRead).toBe(first.bytesRead + "hello, second version\n".length - "hello, archive\n".length);
}, 90_000);

test("a file changed while read and an exclude that matches nothing are warnings, not failures", () => {
  const before = fs.statSync(join(src, "big.bin")).size;
  const s = node.clientJson(
    ["backup", `data.ibsar:${src}`, "--backup-id", "inc", "--change-detection", "data", "--exclude", "/no-such-dir", "--exclude", "*.txt"],
    // Test seam (docs/architecture.md): the client appends to this file right before reading it.
    { IBS_TEST_CHANGE_WHILE_READ: "big.bin" },
  );
  const kinds = s.warningList.map((w: any) => w.kind).sort();
  expect(kinds).toEqual(["changed-while-read", "dangling-symlink", "exclude-unmatched"]);
  expect(s.warnings).toBe(3);
  const changed = s.warningList.find((w: any) => w.kind === "changed-while-read");
  expect(changed.path).toBe("big.bin");
  expect(changed.message).toContain("the copy read was kept");
  expect(s.warningList.find((w: any) => w.kind === "exclude-unmatched").message).toContain("/no-such-dir");
  expect(listedSnapshots(node)).toContain(s.snapshot);

  // The task ends WARNINGS: 3; the client log stored with the snapshot lists each warning.
  const task = JSON.parse(node.admin(["task", "status", s.upid, "--output-format", "json"]).stdout);
  expect(task.state).toBe("WARNINGS: 3");
  const show = node.clientJson(["snapshot", "show", s.snapshot]);
  expect(show.manifest.unprotected.warnings).toBe(3);
  expect(show.clientLog).toContain("warning: data.ibsar: big.bin: changed while it was read");
  expect(show.clientLog).toContain("warning: data.ibsar: exclude pattern '/no-such-dir' matched nothing");

  // The copy read is what the snapshot holds: the size before the append; *.txt left out.
  const listing = node.clientJson(["snapshot", "files", s.snapshot, "data.ibsar"]);
  expect(listing.find((e: any) => e.path === "big.bin").size).toBe(before);
  expect(listing.some((e: any) => e.path.endsWith(".txt"))).toBe(false);
}, 60_000);
