import { afterEach, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describeHolder, readHolder, tryLock } from "../../../src/datastore/lock.ts";
import { processAlive as isProcessAlive, processStartTime } from "../../../src/util/proc.ts";
import { tempDir } from "./helpers.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function lockPath(): string {
  const d = tempDir("lock");
  dirs.push(d);
  return join(d, "sub", "x.lck");
}

test("exclusive excludes everyone, shared admits shared, release frees", async () => {
  const path = lockPath();
  const a = await tryLock(path, "exclusive", "test a");
  expect(a).not.toBeNull();
  expect(await tryLock(path, "exclusive", "test b")).toBeNull(); // also within one process
  expect(await tryLock(path, "shared", "test c")).toBeNull();
  expect(readHolder(path)).toMatchObject({ pid: process.pid, purpose: "test a" });
  expect(describeHolder(path)).toContain(`pid ${process.pid} (test a, since `);
  a!.release();
  expect(readFileSync(path, "utf8")).toBe(""); // a clean release leaves no holder record
  const s1 = await tryLock(path, "shared", "r1");
  const s2 = await tryLock(path, "shared", "r2");
  expect(s1 && s2).toBeTruthy();
  expect(await tryLock(path, "exclusive", "w")).toBeNull();
  s1!.release();
  s2!.release();
  const again = await tryLock(path, "exclusive", "w");
  expect(again?.staleHolder).toBeNull();
  again!.release();
});

test("a lock held by a process killed with SIGKILL is free again and reported as stale", async () => {
  const path = lockPath();
  const script = `
    import { tryLock } from "${join(import.meta.dir, "../../../src/datastore/lock.ts")}";
    const l = await tryLock(${JSON.stringify(path)}, "exclusive", "doomed");
    process.stdout.write(l ? "ready\\n" : "busy\\n");
    setInterval(() => {}, 1000);`;
  const child = Bun.spawn(["bun", "-e", script], { stdout: "pipe" });
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  expect(new TextDecoder().decode(value)).toContain("ready");
  expect(await tryLock(path, "exclusive", "me")).toBeNull();
  const holder = readHolder(path)!;
  expect(holder.pid).toBe(child.pid);
  expect(holder.pstart).toBe(processStartTime(child.pid));
  expect(isProcessAlive(holder.pid, holder.pstart)).toBe(true);
  expect(describeHolder(path)).toContain(`pid ${child.pid} (doomed`);

  child.kill("SIGKILL");
  await child.exited;
  expect(isProcessAlive(holder.pid, holder.pstart)).toBe(false);
  expect(describeHolder(path)).toBe("another process"); // the record is recognised as stale
  const mine = await tryLock(path, "exclusive", "me");
  expect(mine).not.toBeNull();
  expect(mine!.staleHolder).toMatchObject({ pid: child.pid, purpose: "doomed" });
  expect(readHolder(path)).toMatchObject({ pid: process.pid, purpose: "me" });
  mine!.release();
});

test("process start time distinguishes a reused pid", () => {
  const me = processStartTime(process.pid);
  expect(me).toBeGreaterThan(0);
  expect(isProcessAlive(process.pid, me)).toBe(true);
  expect(isProcessAlive(process.pid, me + 1)).toBe(false);
  expect(processStartTime(2 ** 30)).toBe(0);
});

test("on a full disk an exclusive lock whose holder record cannot be written is refused and not left taken", async () => {
  const { mountsWork, mountTmpfs, unmount } = await import("../../helpers/mounts.ts");
  if (!mountsWork()) throw new Error("this test mounts a tmpfs: run the suite as root (CI does)");
  const mnt = tempDir();
  mountTmpfs(mnt, "size=64k");
  try {
    const lockPath = join(mnt, "group.lck");
    writeFileSync(lockPath, ""); // the lock file exists; only its holder record needs a block
    const fill = join(mnt, "fill");
    try {
      writeFileSync(fill, Buffer.alloc(1024 * 1024));
    } catch {
      // ENOSPC: the filesystem is now full
    }
    await expect(tryLock(lockPath, "exclusive", "backup")).rejects.toThrow(/ENOSPC|no space/);
    rmSync(fill);
    const lock = await tryLock(lockPath, "exclusive", "backup"); // before the fix: null, held by a leaked descriptor
    expect(lock).not.toBeNull();
    lock!.release();
  } finally {
    unmount(mnt);
    rmSync(mnt, { recursive: true, force: true });
  }
});
