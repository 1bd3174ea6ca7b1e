/**
 * An admin command run as root on a node whose state belongs to the service user (a packaged
 * install) continues as that user: what it creates stays writable by the services. Here the
 * "service user" is nobody: run the suite as root (CI does).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binaryForNobody, canDropToNobody, NOBODY, removeBinaryForNobody } from "../../helpers/mounts.ts";

let root: string;

beforeAll(() => {
  if (!canDropToNobody()) throw new Error("the state-owner tests run the binary as root on a node owned by nobody: run them as root (CI does)");
  root = mkdtempSync(join(tmpdir(), "ibs-owner-"));
  chmodSync(root, 0o755);
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  removeBinaryForNobody();
});

/** Every path below `dir` (itself included) whose owner is not `uid`. */
function notOwnedBy(dir: string, uid: number): string[] {
  const wrong = lstatSync(dir).uid === uid ? [] : [dir];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    if (lstatSync(p).uid !== uid) wrong.push(p);
  }
  return wrong;
}

function runAsRoot(args: string[]): { code: number; stderr: string } {
  const r = Bun.spawnSync([binaryForNobody(), ...args], { env: { ...process.env, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stderr: r.stderr.toString() };
}

test("as root on a node owned by the service user, admin commands create files the service user owns", () => {
  const dataDir = join(root, "node");
  const stores = join(root, "stores");
  for (const d of [dataDir, stores]) {
    mkdirSync(d);
    chownSync(d, NOBODY, NOBODY);
  }
  const created = runAsRoot(["datastore", "create", "store1", join(stores, "store1"), "--data-dir", dataDir]);
  expect(created.code, created.stderr).toBe(0);
  expect(runAsRoot(["datastore", "namespace", "create", "store1", "prod", "--data-dir", dataDir]).code).toBe(0);
  expect(runAsRoot(["cert", "update", "--data-dir", dataDir]).code).toBe(0);
  // Files the admin hands in may be root's alone (as /etc/letsencrypt): read before the switch.
  const rootOnly = join(root, "root-only");
  mkdirSync(rootOnly, { mode: 0o700 });
  for (const f of ["api.pem", "api.key"]) copyFileSync(join(dataDir, f), join(rootOnly, f));
  const installed = runAsRoot(["cert", "install", "--cert", join(rootOnly, "api.pem"), "--key", join(rootOnly, "api.key"), "--data-dir", dataDir]);
  expect(installed.code, installed.stderr).toBe(0);
  expect(notOwnedBy(dataDir, NOBODY)).toEqual([]);
  expect(notOwnedBy(join(stores, "store1"), NOBODY)).toEqual([]);
});

test("as root on a node root owns (embedded, as root), nothing changes hands", () => {
  const dataDir = join(root, "rootnode");
  mkdirSync(dataDir);
  expect(runAsRoot(["datastore", "create", "store2", join(root, "store2"), "--data-dir", dataDir]).code).toBe(0);
  expect(notOwnedBy(dataDir, 0)).toEqual([]);
  expect(notOwnedBy(join(root, "store2"), 0)).toEqual([]);
});
