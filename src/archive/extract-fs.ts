/**
 * The filesystem side of extraction, shared by the main thread (directories, whose metadata is
 * applied last) and the writer threads (extract-worker.ts: files, symlinks, hardlinks, devices):
 * what is applied, in which order, and the warnings and errors it produces.
 *
 * Order per entry: create, chown, chmod (after chown, which clears set-id bits), xattrs (after
 * chown, which clears file capabilities), mtime last.
 */
import * as fs from "node:fs";
import { IbsError, errorMessage } from "../util/errors.ts";
import type { ArchiveEntry } from "./format.ts";
import { futimens, nativeSupport, setXattr, utimens } from "./native.ts";
import { formatPath } from "./paths.ts";

/** What is restored besides content: owner, mode, mtime, extended attributes. */
export interface EntryMeta {
  uid: number;
  gid: number;
  mode: number;
  mtimeNs: bigint;
  xattrs: Array<[Uint8Array, Uint8Array]>;
}

export interface ApplyOptions {
  /** chown to the archived uid/gid (root only). */
  owners: boolean;
  /** Restore extended attributes; false when disabled or not reachable on this platform. */
  xattrs: boolean;
}

/** A warning about one entry; `once` names a kind reported only the first time it happens. */
export interface ExtractWarning {
  path: Uint8Array;
  message: string;
  once?: string;
}

export type Warn = (w: ExtractWarning) => void;

export function metaOf(e: ArchiveEntry): EntryMeta {
  return { uid: e.uid, gid: e.gid, mode: e.mode, mtimeNs: e.mtimeNs, xattrs: e.xattrs };
}

export const errorCode = (e: unknown): string | undefined => (e as { code?: string })?.code;

function warning(path: Uint8Array, msg: string, once?: string): ExtractWarning {
  return { path, message: `${formatPath(path)}: ${msg}`, ...(once ? { once } : {}) };
}

export function existsError(path: Uint8Array, abs: Uint8Array): IbsError {
  return new IbsError(`extract ${formatPath(path)}: ${Buffer.from(abs).toString()} already exists`, 1, "extract into an empty directory or pass overwrite");
}

/** Removes a non-directory in the way of an entry (overwrite); a directory there is an error. */
export function clearPath(path: Uint8Array, abs: Buffer): void {
  try {
    const st = fs.lstatSync(abs);
    if (st.isDirectory()) throw new IbsError(`extract ${formatPath(path)}: a directory is in the way at ${abs.toString()}`, 1, "remove it first");
    fs.unlinkSync(abs);
  } catch (err) {
    if (errorCode(err) !== "ENOENT") throw err;
  }
}

/** Runs a create call, turning EEXIST into the error that names the entry. */
export function create(path: Uint8Array, abs: Buffer, make: () => void): void {
  try {
    make();
  } catch (err) {
    if (errorCode(err) === "EEXIST") throw existsError(path, abs);
    throw err;
  }
}

/**
 * Metadata of a regular file still open for writing, through its descriptor: no path lookups
 * (each costs a walk down the target tree), and the mtime is set after the last write.
 */
export function applyMetaToOpenFile(path: Uint8Array, abs: Buffer, fd: number, m: EntryMeta, o: ApplyOptions, warn: Warn): void {
  if (o.owners) attempt(path, `owner ${m.uid}:${m.gid}`, warn, () => fs.fchownSync(fd, m.uid, m.gid));
  fs.fchmodSync(fd, m.mode & 0o7777);
  applyXattrs(path, abs, m, o, warn);
  if (!nativeSupport.futimens) {
    applyMtime(path, abs, m, warn);
    return;
  }
  attempt(path, "mtime", warn, () => futimens(fd, m.mtimeNs));
}

/** Metadata by path (directories, symlinks, devices); a symlink's mode is not changed. */
export function applyMeta(path: Uint8Array, abs: Buffer, isLink: boolean, m: EntryMeta, o: ApplyOptions, warn: Warn): void {
  if (o.owners) attempt(path, `owner ${m.uid}:${m.gid}`, warn, () => fs.lchownSync(abs, m.uid, m.gid));
  if (!isLink) fs.chmodSync(abs, m.mode & 0o7777);
  applyXattrs(path, abs, m, o, warn);
  applyMtime(path, abs, m, warn);
}

function applyXattrs(path: Uint8Array, abs: Buffer, m: EntryMeta, o: ApplyOptions, warn: Warn): void {
  if (m.xattrs.length === 0) return;
  if (!o.xattrs) {
    warn(warning(path, "extended attributes not restored (disabled or not reachable on this platform)", "xattrs"));
    return;
  }
  for (const [name, value] of m.xattrs) attempt(path, `xattr ${formatPath(name)}`, warn, () => setXattr(abs, name, value));
}

function applyMtime(path: Uint8Array, abs: Buffer, m: EntryMeta, warn: Warn): void {
  attempt(path, "mtime", warn, () => {
    if (nativeSupport.utimens) utimens(abs, m.mtimeNs);
    else {
      const secs = Number(m.mtimeNs) / 1e9; // microsecond precision at best
      fs.lutimesSync(abs, secs, secs);
    }
  });
}

/** Runs one metadata call; a failure is a warning (`<what> not restored (<code>)`), not an error. */
function attempt(path: Uint8Array, what: string, warn: Warn, call: () => void): void {
  try {
    call();
  } catch (err) {
    warn(warning(path, `${what} not restored (${errorCode(err) ?? errorMessage(err)})`));
  }
}
