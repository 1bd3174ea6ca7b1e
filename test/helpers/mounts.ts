/**
 * Real mounts for tests of how the product copes with filesystems (full, read-only), and a
 * way to run the binary as an unprivileged user. Mounting needs root (or CAP_SYS_ADMIN);
 * `mountsWork()` says whether this machine allows it, so a test can fall back to a clearly
 * named simulation. Every mount made here must be undone in a `finally` with `unmount`.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ibsBinary } from "./ibs.ts";

function run(cmd: string[]): { ok: boolean; err: string } {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { ok: r.success, err: r.stderr.toString().trim() };
}

function must(cmd: string[]): void {
  const r = run(cmd);
  if (!r.ok) throw new Error(`${cmd.join(" ")} failed: ${r.err}`);
}

let mountable: boolean | undefined;

/** True when this process may mount a tmpfs (tried once). */
export function mountsWork(): boolean {
  if (mountable !== undefined) return mountable;
  const dir = mkdtempSync(join(tmpdir(), "ibs-mountcheck-"));
  mountable = run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]).ok;
  if (mountable) run(["umount", dir]);
  rmSync(dir, { recursive: true, force: true });
  return mountable;
}

/** Mounts a tmpfs on `dir` (created if missing), e.g. options "size=2m,nr_inodes=64". */
export function mountTmpfs(dir: string, options: string): void {
  mkdirSync(dir, { recursive: true });
  must(["mount", "-t", "tmpfs", "-o", options, "tmpfs", dir]);
}

/** Makes `target` a read-only view of `source` (a bind mount remounted ro). */
export function bindReadOnly(source: string, target: string): void {
  mkdirSync(target, { recursive: true });
  must(["mount", "--bind", source, target]);
  const ro = run(["mount", "-o", "remount,ro,bind", target]);
  if (!ro.ok) {
    run(["umount", target]);
    throw new Error(`mount -o remount,ro,bind ${target} failed: ${ro.err}`);
  }
}

/** Unmounts, lazily if something still has it open, so a failed test never leaves a mount. */
export function unmount(dir: string): void {
  if (!run(["umount", dir]).ok) run(["umount", "-l", dir]);
}

export const NOBODY = 65534;

/** True when running as root and setpriv can drop to nobody. */
export function canDropToNobody(): boolean {
  return process.getuid?.() === 0 && run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "true"]).ok;
}

let nobodyBin: string | undefined;

/** A copy of the binary that nobody can execute (the build folder may not be traversable for it). */
export function binaryForNobody(): string {
  if (nobodyBin) return nobodyBin;
  const dir = mkdtempSync(join(tmpdir(), "ibs-nobody-bin-"));
  chmodSync(dir, 0o755);
  nobodyBin = join(dir, "ironcore-backup");
  copyFileSync(ibsBinary(), nobodyBin);
  chmodSync(nobodyBin, 0o755);
  return nobodyBin;
}

/** Deletes the copy made by binaryForNobody (call it in afterAll). */
export function removeBinaryForNobody(): void {
  if (!nobodyBin) return;
  rmSync(join(nobodyBin, ".."), { recursive: true, force: true });
  nobodyBin = undefined;
}

/** Runs the binary as uid/gid 65534 (nobody) with no supplementary groups. */
export function ibsAsNobody(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", binaryForNobody(), ...args], {
    cwd: "/",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NO_COLOR: "1", HOME: "/" },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}
