/**
 * A datastore whose disk fills up (a real 48 MiB tmpfs), down to the last block: the backup
 * that meets the full disk fails with "no space left" and leaves no snapshot; the operator
 * forgets old snapshots and runs GC, which must work on the full disk (PBS users meet the
 * opposite: a full store cannot be cleaned up). The datastore's cleanup reserve
 * (src/datastore/space-reserve.ts) makes that possible; backups are refused while it is given
 * up, and work again once GC has made room. Mounting needs root and tmpfs: run the suite as
 * root (CI does).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mountsWork, mountTmpfs } from "../../helpers/mounts.ts";
import { diffTrees } from "../backup/backup-fixture.ts";
import { fillToLastBlock, randomDir as randomTreeOf, stopOnFullDisk } from "./full-disk-fixture.ts";
import { type BackupNode, startBackupNode } from "./maintenance-fixture.ts";

const MiB = 1024 * 1024;
let node: BackupNode;
let disk: string;

beforeAll(async () => {
  if (!mountsWork()) throw new Error("the full-disk test mounts a tmpfs: run it as root (CI does)");
  node = await startBackupNode();
  disk = fs.mkdtempSync(join(tmpdir(), "ibs-small-disk-")); // not below node.dir, which stop() removes
  mountTmpfs(disk, "size=48m");
  const r = node.admin(["datastore", "create", "small", join(disk, "store")]);
  if (r.code !== 0) throw new Error(`datastore create: ${r.stderr}`);
}, 120_000);

afterAll(() => stopOnFullDisk(node, disk), 60_000);

const repo = () => ({ IBS_REPOSITORY: `admin@ibs@127.0.0.1:${node.port}:small` });
const client = (args: string[]) => node.client(args, repo());
const listed = () => node.clientJson<any[]>(["snapshot", "list"], repo()).map((s) => s.snapshot as string);
const reserve = () => join(disk, "store", ".ibs", "reserve");
const freeBytes = () => {
  const s = fs.statfsSync(disk);
  return s.bavail * s.bsize;
};

const randomDir = (name: string, mib: number) => randomTreeOf(node.dir, name, mib);

test("a full datastore: the backup fails clearly with no snapshot left; forget and GC free the disk; backups work again", () => {
  const kept = randomDir("kept", 4);
  const first = JSON.parse(client(["backup", `data.ibsar:${kept}`, "--backup-id", "kept", "--output-format", "json"]).stdout).snapshot as string;
  // Fill the disk with 8 MiB backups until one fails.
  const made: string[] = [];
  let failure = "";
  for (let i = 0; i < 10 && !failure; i++) {
    const r = client(["backup", `data.ibsar:${randomDir(`fill-${i}`, 8)}`, "--backup-id", `fill-${i}`, "--output-format", "json"]);
    if (r.code === 0) made.push(JSON.parse(r.stdout).snapshot);
    else failure = r.stderr;
  }
  expect(failure).toContain("no space left");
  expect(failure).toContain("small");
  expect(made.length).toBeGreaterThan(0);
  expect(listed().sort()).toEqual([first, ...made].sort()); // the failed one left nothing
  fillToLastBlock(disk);
  expect(freeBytes()).toBe(0);

  // The way out: forget what can go, then GC with no grace, on the full disk. The first forget
  // gives back the datastore's cleanup reserve: without it not even a lock file could be written.
  expect(fs.existsSync(reserve())).toBe(true);
  const reserveState = () => JSON.parse(node.admin(["datastore", "stats", "small", "--output-format", "json"]).stdout).spaceReserve.state;
  for (const s of made) {
    const f = client(["snapshot", "forget", s]);
    expect({ s, code: f.code, err: f.stderr }).toEqual({ s, code: 0, err: "" });
  }
  expect(fs.existsSync(reserve())).toBe(false);
  expect(reserveState()).toBe("given back");
  expect(node.admin(["datastore", "stats", "small"]).stdout).toMatch(/space reserve\s+8\.0M not set aside/);
  // Until GC has made room, a backup would take the room cleanup needs: refused, saying why.
  const early = client(["backup", `data.ibsar:${kept}`, "--backup-id", "early"]);
  expect(early.code).not.toBe(0);
  expect(early.stderr).toContain("datastore small is full (its 8 MiB cleanup reserve is in use");
  expect(early.stderr).toContain("gc start small");

  const gc = node.admin(["gc", "start", "small", "--grace-seconds", "0", "--follow"]);
  expect({ code: gc.code, err: gc.stderr }).toEqual({ code: 0, err: "" });
  expect(fs.existsSync(reserve())).toBe(true); // taken again
  expect(reserveState()).toBe("held");
  expect(freeBytes()).toBeGreaterThan(24 * MiB);

  const again = client(["backup", `data.ibsar:${randomDir("after", 8)}`, "--backup-id", "after"]);
  expect({ code: again.code, err: again.stderr }).toEqual({ code: 0, err: expect.any(String) });
  const out = join(node.dir, "restored");
  expect(client(["restore", first, "data.ibsar", out]).code).toBe(0);
  expect(diffTrees(kept, out)).toEqual([]);
}, 180_000);
