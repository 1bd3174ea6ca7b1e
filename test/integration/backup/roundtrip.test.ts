/**
 * Backup and restore as an operator runs them: the client binary against a `run all` node.
 * A tree with every entry kind (odd names, hardlinks, sparse and empty files, devices, FIFOs,
 * sockets, xattrs, owners, nanosecond times) and a 5 GiB sparse image in one encrypted
 * snapshot; both restored equal to the source, holes staying holes.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { buildTree, diffSnapshots, snapshot } from "../../unit/archive/tree.ts";
import { ibsBinary } from "../../helpers/ibs.ts";
import { type BackupNode, diffTrees, listedSnapshots, sameSparseContent, startBackupNode } from "./backup-fixture.ts";

let node: BackupNode;
let work: string;
let src: string;
let img: string;
const IMAGE_SIZE = 5 * 1024 * 1024 * 1024;

beforeAll(async () => {
  node = await startBackupNode();
  work = fs.mkdtempSync(join(node.dir, "work-"));
  src = join(work, "src");
  fs.mkdirSync(src);
  await buildTree(src);
  // 5 GiB, nearly all hole: data at the start, in the middle (not chunk-aligned) and at the end.
  img = join(work, "disk0.raw");
  const fd = fs.openSync(img, "w");
  fs.ftruncateSync(fd, IMAGE_SIZE);
  fs.writeSync(fd, Buffer.from("boot sector".repeat(100)), 0, 1100, 0);
  fs.writeSync(fd, Buffer.alloc(3 * 1024 * 1024, 0xab), 0, 3 * 1024 * 1024, 2 * 1024 * 1024 * 1024 + 12345);
  fs.writeSync(fd, Buffer.from("the end"), 0, 7, IMAGE_SIZE - 7);
  fs.closeSync(fd);
}, 120_000);

afterAll(() => node?.stop());

test("a tree and a 5 GiB sparse image round-trip through an encrypted snapshot", async () => {
  const s = node.clientJson(["backup", `root.ibsar:${src}`, `disk0.img:${img}`, "--backup-type", "host", "--backup-id", "web1"]);
  expect(s.cryptMode).toBe("encrypt");
  expect(s.keyFingerprint).toBe(node.keyFingerprint);
  expect(s.warnings).toBe(1);
  expect(s.warningList[0].kind).toBe("dangling-symlink");
  const image = s.archives.find((a: any) => a.name === "disk0.img");
  expect(image.size).toBe(IMAGE_SIZE);
  expect(image.zeroChunks).toBeGreaterThanOrEqual(1275);
  // Holes are neither read nor uploaded twice: the 3 data chunks plus one zero chunk.
  expect(image.bytesRead).toBeLessThan(32 * 1024 * 1024);
  expect(s.bytesUploaded).toBeLessThan(80 * 1024 * 1024);
  expect(listedSnapshots(node)).toContain(s.snapshot);

  const out = join(work, "restored");
  const r = node.client(["restore", s.snapshot, "root.ibsar", out]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(diffTrees(src, out)).toEqual([]);
  expect(diffSnapshots(await snapshot(src), await snapshot(out))).toEqual([]);

  const restoredImg = join(work, "disk0.restored");
  const ri = node.clientJson(["restore", s.snapshot, "disk0.img", restoredImg]);
  expect(ri.zeroChunks).toBeGreaterThanOrEqual(1275);
  expect(ri.zeroChunksAs).toBe("holes");
  expect(sameSparseContent(img, restoredImg)).toEqual({ same: true });
  // Holes stayed holes: only the chunks holding data were written.
  expect(fs.statSync(restoredImg).blocks * 512).toBeLessThan(32 * 1024 * 1024);

  // One file to stdout, and a pattern restore of a subtree.
  const one = node.client(["restore", s.snapshot, "root.ibsar", "--file", "links/two", "-"]);
  expect(one.code).toBe(0);
  expect(one.stdout).toBe("shared content\n");
  const part = join(work, "part");
  const p = node.clientJson(["restore", s.snapshot, "root.ibsar", part, "--pattern", "links/**", "--pattern", "/hello.txt"]);
  expect(p.warnings).toEqual([]);
  expect(fs.readdirSync(part).sort()).toEqual(["hello.txt", "links"]);
  expect(fs.readFileSync(join(part, "links/one"), "utf8")).toBe("shared content\n");
  expect(fs.statSync(join(part, "links/one")).ino).toBe(fs.statSync(join(part, "links/two")).ino);

  // Every archive at once into one directory: the tree as root/, the image as disk0.img.
  const all = join(work, "all");
  const a = node.clientJson(["restore", s.snapshot, "--all", all]);
  expect(a.archives.map((x: any) => [x.archive, x.target]).sort()).toEqual([
    ["disk0.img", join(all, "disk0.img")],
    ["root.ibsar", join(all, "root")],
  ]);
  expect(a.warnings).toEqual([]);
  expect(diffSnapshots(await snapshot(src), await snapshot(join(all, "root")))).toEqual([]);
  expect(sameSparseContent(img, join(all, "disk0.img"))).toEqual({ same: true });
  expect(fs.statSync(join(all, "disk0.img")).blocks * 512).toBeLessThan(32 * 1024 * 1024);
  const twice = node.client(["restore", s.snapshot, "--all", all]);
  expect(twice.code).toBe(1);
  expect(twice.stderr).toContain("already exists");
  const extra = node.client(["restore", s.snapshot, "--all", all, "more"]);
  expect(extra.code).toBe(2);
  expect(extra.stderr).toContain("--all takes one target directory");
}, 120_000);

test("the snapshot commands list, inspect, annotate, protect and forget", () => {
  const s = node.clientJson(["backup", `etc.ibsar:${join(src, "links")}`, "--backup-id", "small"]);
  const files = node.clientJson(["snapshot", "files", s.snapshot]);
  expect(files.map((f: any) => f.filename).sort()).toEqual(["client.log.blob", "etc.mibsar.didx", "etc.pibsar.didx"]);
  const entries = node.clientJson(["snapshot", "files", s.snapshot, "etc.ibsar"]);
  expect(entries.map((e: any) => e.path)).toEqual(["one", "sym", "sym-hardlink", "two"]);
  const show = node.clientJson(["snapshot", "show", s.snapshot]);
  expect(show.manifest.key_fingerprint).toBe(node.keyFingerprint);
  expect(show.clientLog).toContain(`backup of ${s.snapshot}`);

  expect(node.clientJson(["snapshot", "notes", s.snapshot, "--set", "before the upgrade\nmore"]).notes).toBe("before the upgrade\nmore");
  expect(node.clientJson(["snapshot", "notes", s.snapshot]).notes).toBe("before the upgrade\nmore");
  expect(node.clientJson(["snapshot", "list", "host/small"]).map((x: any) => x.comment)).toEqual(["before the upgrade"]);

  expect(node.clientJson(["snapshot", "protect", s.snapshot]).protected).toBe(true);
  const refused = node.client(["snapshot", "forget", s.snapshot]);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain("protected");
  expect(listedSnapshots(node)).toContain(s.snapshot);
  node.clientJson(["snapshot", "protect", s.snapshot, "--remove"]);
  node.clientJson(["snapshot", "forget", s.snapshot]);
  expect(listedSnapshots(node)).not.toContain(s.snapshot);
}, 60_000);

test("an unencrypted backup into a namespace; an image restored to stdout", () => {
  expect(node.admin(["datastore", "namespace", "create", "local", "prod/web"]).code).toBe(0);
  const small = join(work, "small.img");
  const bytes = Buffer.concat([Buffer.alloc(4 * 1024 * 1024), crypto.getRandomValues(new Uint8Array(5 * 1024 * 1024 + 123))]);
  fs.writeFileSync(small, bytes);
  const s = node.clientJson(["backup", `vm-100-disk0.img:${small}`, "--backup-type", "vm", "--backup-id", "100", "--ns", "prod/web", "--crypt-mode", "none"], { IBS_KEYFILE: "" });
  expect(s.cryptMode).toBe("none");
  expect(s.snapshot).toStartWith("vm/100/");
  expect(node.clientJson(["snapshot", "list", "--ns", "prod/web"]).map((x: any) => x.snapshot)).toEqual([s.snapshot]);
  expect(listedSnapshots(node)).not.toContain(s.snapshot); // the root namespace does not show it
  const r = Bun.spawnSync([ibsBinary(), "restore", s.snapshot, "vm-100-disk0.img", "-", "--ns", "prod/web"], { env: { ...process.env, ...node.env, IBS_KEYFILE: "" }, stdout: "pipe", stderr: "pipe" });
  expect(r.exitCode).toBe(0);
  expect(Buffer.compare(r.stdout, bytes)).toBe(0);
}, 60_000);

test("an API token: its secret in IBS_PASSWORD, the token in the repository", () => {
  const t = JSON.parse(node.admin(["user", "token", "create", "admin@ibs", "backup", "--no-privsep", "--output-format", "json"]).stdout);
  const env = { IBS_REPOSITORY: `${t.tokenid}@127.0.0.1:${node.port}:local`, IBS_PASSWORD: t.secret };
  const s = node.clientJson(["backup", `links.ibsar:${join(src, "links")}`, "--backup-id", "token"], env);
  expect(s.warnings).toBe(0);
  expect(node.clientJson(["snapshot", "list", "host/token"], env).map((x: any) => x.snapshot)).toEqual([s.snapshot]);
}, 30_000);
