/**
 * Advisory file locks with flock(2) (through bun:ffi; node:fs has no flock).
 *
 * Why flock and not O_EXCL pid files: the kernel drops a flock when its holder dies, even by
 * SIGKILL, so a dead writer can never leave a lock behind and no process has to decide that
 * another one is dead (the pid-file "break the stale lock" dance races between two breakers).
 * An exclusive holder writes {pid, pstart, since, purpose} into the file so that a refused
 * caller can say who holds it; a holder record whose process is gone is reported as stale and
 * overwritten. Lock files are never deleted (deleting a locked file would split the lock).
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { processAlive, processStartTime } from "../util/proc.ts";

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const EINTR = 4;
const EWOULDBLOCK = 11;

export type LockMode = "exclusive" | "shared";

export interface LockHolder {
  pid: number;
  pstart: number;
  /** Unix milliseconds when the lock was taken. */
  since: number;
  purpose: string;
}

interface Libc {
  flock(fd: number, op: number): number;
  errno(): number;
}

let libc: Libc | undefined;

async function loadLibc(): Promise<Libc> {
  if (libc) return libc;
  const { dlopen, FFIType, read } = await import("bun:ffi");
  const symbols = {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  } as const;
  let lib;
  for (const name of ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "libc.so"]) {
    try {
      lib = dlopen(name, symbols);
      break;
    } catch {
      // try the next name
    }
  }
  if (!lib) throw new Error("file locking needs flock(2) from the C library, but libc could not be loaded through bun:ffi");
  const l = lib;
  libc = {
    flock: (fd, op) => l.symbols.flock(fd, op) as number,
    errno: () => read.i32(l.symbols.__errno_location()!, 0),
  };
  return libc;
}

export class FileLock {
  private fd: number | null;

  constructor(
    readonly path: string,
    readonly mode: LockMode,
    fd: number,
    /** Record left by an exclusive holder that died without releasing (cleared on acquire). */
    readonly staleHolder: LockHolder | null,
  ) {
    this.fd = fd;
  }

  get held(): boolean {
    return this.fd !== null;
  }

  release(): void {
    if (this.fd === null) return;
    // Clear our holder record first: a record found by the next holder then always means
    // its writer died while holding the lock (reported as staleHolder).
    if (this.mode === "exclusive") ftruncateSync(this.fd, 0);
    closeSync(this.fd); // closing the only descriptor drops the flock
    this.fd = null;
  }
}

/** Takes the lock without waiting; null when someone else holds it (conflicting mode). */
export async function tryLock(path: string, mode: LockMode, purpose: string): Promise<FileLock | null> {
  const c = await loadLibc();
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, "a+", 0o640);
  for (;;) {
    if (c.flock(fd, (mode === "exclusive" ? LOCK_EX : LOCK_SH) | LOCK_NB) === 0) break;
    const errno = c.errno();
    if (errno === EINTR) continue;
    closeSync(fd);
    if (errno === EWOULDBLOCK) return null;
    throw new Error(`lock ${path}: flock failed with errno ${errno}`);
  }
  let stale: LockHolder | null = null;
  if (mode === "exclusive") {
    try {
      stale = readHolder(path);
      ftruncateSync(fd, 0);
      const me = { pid: process.pid, pstart: processStartTime() };
      const holder: LockHolder = { pid: me.pid, pstart: me.pstart, since: Date.now(), purpose };
      writeSync(fd, JSON.stringify(holder) + "\n", 0);
    } catch (err) {
      closeSync(fd); // a holder record that cannot be written (a full disk) must not leave the lock taken
      throw err;
    }
  }
  return new FileLock(path, mode, fd, stale);
}

/**
 * Purposes written by the holders of a datastore's GC lock (`.ibs/locks/gc.lck`): a GC, or a
 * reindex, which holds it so no sweep deletes chunks while it lists them.
 */
export const GC_LOCK_PURPOSE = "garbage collection";
export const REINDEX_LOCK_PURPOSE = "datastore reindex";

/** Takes the lock, retrying until `timeoutMs` passes; null on timeout. */
export async function lockWithTimeout(path: string, mode: LockMode, purpose: string, timeoutMs: number): Promise<FileLock | null> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const lock = await tryLock(path, mode, purpose);
    if (lock || Date.now() >= deadline) return lock;
    await Bun.sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
  }
}

/** The last exclusive holder's record (it may be stale: check with processAlive). */
export function readHolder(path: string): LockHolder | null {
  try {
    const text = readFileSync(path, "utf8").trim();
    if (!text) return null;
    const h = JSON.parse(text) as LockHolder;
    return typeof h.pid === "number" ? h : null;
  } catch {
    return null;
  }
}

/** "pid 1234 (backup, since 2026-11-26T19:00:00Z)" for messages, or "another process". */
export function describeHolder(path: string): string {
  return holderText(readHolder(path));
}

/** describeHolder for a holder already read. */
export function holderText(h: LockHolder | null): string {
  if (!h || !processAlive(h.pid, h.pstart)) return "another process";
  return `pid ${h.pid} (${h.purpose}, since ${new Date(h.since).toISOString().replace(/\.\d{3}Z$/, "Z")})`;
}
