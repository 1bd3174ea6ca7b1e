/**
 * The README's default set-up on one disk: the server's data directory (state database, logs)
 * and its `local` datastore share a filesystem (a real 64 MiB tmpfs here), and backups fill it
 * to the last block. Then even logging in fails (the server cannot write its own files). That
 * answer gives back the datastore's cleanup reserve (src/api/app.ts, space-reserve.ts) and says
 * so, so the operator's next forget works; backups are refused until GC has made room, and
 * work again after it. Mounting needs root and tmpfs: run the suite as root (CI does).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mountsWork, mountTmpfs } from "../../helpers/mounts.ts";
import { fillToLastBlock, randomDir as randomTreeOf, stopOnFullDisk } from "./full-disk-fixture.ts";
import { type BackupNode, startBackupNode } from "./maintenance-fixture.ts";

let node: BackupNode;
let disk: string;
let sources: string;

beforeAll(async () => {
  if (!mountsWork()) throw new Error("the full-disk test mounts a tmpfs: run it as root (CI does)");
  disk = fs.mkdtempSync(join(tmpdir(), "ibs-one-disk-"));
  sources = fs.mkdtempSync(join(tmpdir(), "ibs-one-disk-sources-"));
  mountTmpfs(disk, "size=64m");
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = disk; // the node's data directory, and so its 'local' datastore, on the small disk
  try {
    node = await startBackupNode();
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}, 120_000);

afterAll(async () => {
  await stopOnFullDisk(node, disk);
  if (sources) fs.rmSync(sources, { recursive: true, force: true });
}, 60_000);

const randomDir = (name: string, mib: number) => randomTreeOf(sources, name, mib);

test("one disk for the server and its datastore, full to the last block: forget works after one 507, GC frees it, backups resume", () => {
  const kept = randomDir("kept", 2);
  node.clientJson(["backup", `data.ibsar:${kept}`, "--backup-id", "kept"]);
  const made: string[] = [];
  let failure = "";
  for (let i = 0; i < 12 && !failure; i++) {
    const r = node.client(["backup", `data.ibsar:${randomDir(`fill-${i}`, 8)}`, "--backup-id", `fill-${i}`, "--output-format", "json"]);
    if (r.code === 0) made.push(JSON.parse(r.stdout).snapshot);
    else failure = r.stderr;
  }
  expect(failure).toContain("no space left");
  expect(made.length).toBeGreaterThan(0);
  fillToLastBlock(disk);

  // The first command may meet the full disk in the server's own files; that answer frees the
  // reserve and says to run the command again, which then works.
  for (const s of made) {
    let f = node.client(["snapshot", "forget", s]);
    if (f.code !== 0) {
      // "could not write its own files: no space left", or SQLite's "disk I/O error" as a 500
      expect(f.stderr).toContain("set aside for cleanup on that filesystem was freed (datastore local): run the command again");
      f = node.client(["snapshot", "forget", s]);
    }
    expect({ s, code: f.code, err: f.stderr }).toEqual({ s, code: 0, err: "" });
  }
  const early = node.client(["backup", `data.ibsar:${kept}`, "--backup-id", "early"]);
  expect(early.code).not.toBe(0);
  expect(early.stderr).toContain("datastore local is full");

  const gc = node.admin(["gc", "start", "local", "--grace-seconds", "0", "--follow"]);
  expect({ code: gc.code, err: gc.stderr }).toEqual({ code: 0, err: "" });
  const again = node.client(["backup", `data.ibsar:${kept}`, "--backup-id", "again"]);
  expect({ code: again.code, err: again.stderr.includes("error:") }).toEqual({ code: 0, err: false });
}, 180_000);
