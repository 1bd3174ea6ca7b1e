/**
 * The few libc calls node:fs lacks, through bun:ffi on glibc: extended attributes (which also
 * carry POSIX ACLs and file capabilities), SEEK_DATA/SEEK_HOLE for sparse files, utimensat for
 * nanosecond timestamps on any entry (symlinks too), and mknod for devices, FIFOs and sockets.
 *
 * Each symbol is bound on its own, so a libc missing one loses only that feature; where libc.so.6
 * cannot be opened at all (musl, other systems) every function is undefined and callers fall back
 * (zero-block scan, microsecond lutimes) or report what they could not do.
 *
 * These calls block the JS thread. They are metadata syscalls costing microseconds, like lstat.
 */
import { type Pointer, dlopen, FFIType, ptr, read } from "bun:ffi";
import { constants as osConstants } from "node:os";

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v as number, k]));

export class NativeError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
    readonly path?: Uint8Array,
  ) {
    const code = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
    super(`${syscall}: ${code}`);
    this.name = "NativeError";
  }
  get code(): string {
    return ERRNO_NAMES.get(this.errno) ?? `errno ${this.errno}`;
  }
}

type Sym = (...args: any[]) => any;
const syms: Record<string, Sym | undefined> = {};
let errnoLocation: (() => Pointer | null) | undefined;

const wanted = {
  llistxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  lgetxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  lsetxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  lseek: { args: [FFIType.i32, FFIType.i64, FFIType.i32], returns: FFIType.i64 },
  utimensat: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  futimens: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  mknod: { args: [FFIType.ptr, FFIType.u32, FFIType.u64], returns: FFIType.i32 },
  statx: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.u32, FFIType.ptr], returns: FFIType.i32 },
} as const;

if (process.platform === "linux") {
  try {
    errnoLocation = dlopen("libc.so.6", { __errno_location: { args: [], returns: FFIType.ptr } }).symbols.__errno_location as any;
    for (const [name, def] of Object.entries(wanted)) {
      try {
        syms[name] = (dlopen("libc.so.6", { [name]: def }).symbols as any)[name];
      } catch {
        syms[name] = undefined;
      }
    }
  } catch {
    errnoLocation = undefined;
  }
}

function errno(): number {
  const p = errnoLocation?.();
  return p ? read.i32(p, 0) : 0;
}

function cstr(b: Uint8Array | string): Buffer {
  const s = typeof b === "string" ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const out = Buffer.alloc(s.byteLength + 1);
  s.copy(out);
  return out;
}

export const nativeSupport = {
  xattrs: !!(errnoLocation && syms.llistxattr && syms.lgetxattr),
  setXattrs: !!(errnoLocation && syms.lsetxattr),
  seekData: !!(errnoLocation && syms.lseek),
  utimens: !!(errnoLocation && syms.utimensat),
  futimens: !!(errnoLocation && syms.futimens),
  mknod: !!(errnoLocation && syms.mknod),
  statx: !!(errnoLocation && syms.statx),
};

const ENODATA = 61;
const ERANGE = 34;
const ENXIO = 6;

/** Extended attributes of a path (not following symlinks), sorted by name. */
export function listXattrs(path: Uint8Array): Array<[Uint8Array, Uint8Array]> {
  const list = syms.llistxattr!;
  const get = syms.lgetxattr!;
  const p = cstr(path);
  for (let attempt = 0; attempt < 4; attempt++) {
    const need = Number(list(ptr(p), null, 0));
    if (need < 0) throw new NativeError("llistxattr", errno(), path);
    if (need === 0) return [];
    const buf = Buffer.alloc(need);
    const got = Number(list(ptr(p), ptr(buf), need));
    if (got < 0) {
      if (errno() === ERANGE) continue; // list grew between the two calls
      throw new NativeError("llistxattr", errno(), path);
    }
    const out: Array<[Uint8Array, Uint8Array]> = [];
    let start = 0;
    for (let i = 0; i < got; i++) {
      if (buf[i] !== 0) continue;
      const name = buf.subarray(start, i);
      start = i + 1;
      if (name.byteLength === 0) continue;
      const cname = cstr(name);
      let value: Uint8Array | undefined;
      for (let a = 0; a < 4 && value === undefined; a++) {
        const vlen = Number(get(ptr(p), ptr(cname), null, 0));
        if (vlen < 0) {
          if (errno() === ENODATA) break; // removed meanwhile
          throw new NativeError("lgetxattr", errno(), path);
        }
        const vbuf = Buffer.alloc(Math.max(vlen, 1));
        const n = Number(get(ptr(p), ptr(cname), ptr(vbuf), vbuf.byteLength));
        if (n < 0) {
          if (errno() === ERANGE) continue;
          if (errno() === ENODATA) break;
          throw new NativeError("lgetxattr", errno(), path);
        }
        value = Uint8Array.prototype.slice.call(vbuf, 0, n);
      }
      if (value !== undefined) out.push([Uint8Array.prototype.slice.call(name), value]);
    }
    return out.sort((a, b) => Buffer.compare(a[0], b[0]));
  }
  throw new NativeError("llistxattr", ERANGE, path);
}

export function setXattr(path: Uint8Array, name: Uint8Array, value: Uint8Array): void {
  const v = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const vp = v.byteLength > 0 ? ptr(v) : ptr(Buffer.alloc(1));
  if (syms.lsetxattr!(ptr(cstr(path)), ptr(cstr(name)), vp, v.byteLength, 0) !== 0) {
    throw new NativeError("lsetxattr", errno(), path);
  }
}

/** lseek(fd, from, SEEK_DATA or SEEK_HOLE); -1 when there is no more data (ENXIO). */
export function seek(fd: number, from: number, what: "data" | "hole"): number {
  const r = Number(syms.lseek!(fd, from, what === "data" ? 3 : 4));
  if (r < 0) {
    const e = errno();
    if (e === ENXIO) return -1;
    throw new NativeError("lseek", e);
  }
  return r;
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const UTIME_OMIT = (1n << 30n) - 2n;

/** Reused timespec[2] (single-threaded, filled right before each call). */
const TIMES = new BigInt64Array(4);
const TIMES_PTR = ptr(TIMES);

/** timespec[2] for utimensat/futimens: atime untouched (UTIME_OMIT), mtime as given. */
function mtimeOnly(mtimeNs: bigint): Pointer {
  const sec = mtimeNs / 1_000_000_000n;
  let nsec = mtimeNs % 1_000_000_000n;
  let s = sec;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    s -= 1n;
  }
  TIMES[0] = 0n;
  TIMES[1] = UTIME_OMIT;
  TIMES[2] = s;
  TIMES[3] = nsec;
  return TIMES_PTR;
}

/** Sets mtime with nanosecond precision on the path itself (symlinks not followed); atime untouched. */
export function utimens(path: Uint8Array, mtimeNs: bigint): void {
  if (syms.utimensat!(AT_FDCWD, ptr(cstr(path)), mtimeOnly(mtimeNs), AT_SYMLINK_NOFOLLOW) !== 0) {
    throw new NativeError("utimensat", errno(), path);
  }
}

/** utimens on an open file (no path lookup): restores set the mtime before closing what they wrote. */
export function futimens(fd: number, mtimeNs: bigint): void {
  if (syms.futimens!(fd, mtimeOnly(mtimeNs)) !== 0) throw new NativeError("futimens", errno());
}

/**
 * statx(dirfd, path, flags, mask, buf) with pointers the caller keeps (stat-at.ts reuses one
 * path buffer and one result buffer for a whole walk); returns 0 or the errno.
 */
export function statxInto(dirfd: number, pathPtr: Pointer, flags: number, mask: number, bufPtr: Pointer): number {
  return syms.statx!(dirfd, pathPtr, flags, mask, bufPtr) === 0 ? 0 : errno();
}

export function mknod(path: Uint8Array, mode: number, dev: bigint): void {
  if (syms.mknod!(ptr(cstr(path)), mode, dev) !== 0) throw new NativeError("mknod", errno(), path);
}
