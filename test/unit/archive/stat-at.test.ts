import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StatAt, type WalkStat } from "../../../src/archive/stat-at.ts";

const dir = fs.mkdtempSync(join(tmpdir(), "ibs-stat-at-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const FIELDS = ["dev", "ino", "mode", "nlink", "uid", "gid", "rdev", "size", "blocks", "mtimeNs", "ctimeNs"] as const;
const KINDS = ["isFile", "isDirectory", "isSymbolicLink", "isCharacterDevice", "isBlockDevice", "isFIFO", "isSocket"] as const;

function same(native: WalkStat, node: fs.BigIntStats): void {
  for (const f of FIELDS) expect({ field: f, value: native[f] }).toEqual({ field: f, value: node[f] });
  for (const k of KINDS) expect({ kind: k, value: native[k]() }).toEqual({ kind: k, value: node[k]() });
}

describe("StatAt (statx relative to a directory descriptor)", () => {
  const s = new StatAt();

  test("gives the same fields as fs.lstatSync for files, directories, symlinks, FIFOs and hardlinks", () => {
    expect(s.available).toBe(true);
    fs.writeFileSync(join(dir, "file"), "x".repeat(5000));
    fs.writeFileSync(join(dir, "empty"), "");
    fs.mkdirSync(join(dir, "sub"));
    fs.symlinkSync("file", join(dir, "link"));
    fs.symlinkSync("missing", join(dir, "dangling"));
    fs.linkSync(join(dir, "file"), join(dir, "hard"));
    Bun.spawnSync(["mkfifo", join(dir, "fifo")]);
    // Timestamps before 1970 and with nanoseconds, and a sparse size beyond 4 GiB.
    fs.utimesSync(join(dir, "empty"), new Date(-86_400_000 * 400 + 123), new Date(-86_400_000 * 400 + 456));
    fs.truncateSync(join(dir, "file"), 6 * 2 ** 30 + 17);
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const names = fs.readdirSync(dir);
      expect(names.length).toBeGreaterThanOrEqual(7);
      for (const name of names) {
        const native = s.stat(fd, Buffer.from(name));
        expect(native).toBeDefined();
        same(native!, fs.lstatSync(join(dir, name), { bigint: true }));
        expect({ name, size: native!.sizeNumber }).toEqual({ name, size: Number(fs.lstatSync(join(dir, name)).size) });
      }
    } finally {
      fs.closeSync(fd);
    }
  });

  test("a character device (/dev/null) keeps its rdev", () => {
    const fd = fs.openSync("/dev", fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const native = s.stat(fd, Buffer.from("null"))!;
      same(native, fs.lstatSync("/dev/null", { bigint: true }));
      expect(native.isCharacterDevice()).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });

  test("a missing name throws an error with the errno's code, naming the path given", () => {
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      let err: any;
      try {
        s.stat(fd, Buffer.from("nope"), Buffer.from("a/nope"));
      } catch (e) {
        err = e;
      }
      expect(err?.code).toBe("ENOENT");
      expect(Buffer.from(err.path).toString()).toBe("a/nope");
    } finally {
      fs.closeSync(fd);
    }
  });
});

describe("NativeStat.sameAs (change detection without BigInts)", () => {
  const { NativeStat } = require("../../../src/archive/stat-at.ts") as typeof import("../../../src/archive/stat-at.ts");
  const { encodeEntryBody } = require("../../../src/archive/records.ts") as typeof import("../../../src/archive/records.ts");

  /** mode, nlink, uid, gid, ino lo/hi, size lo/hi, blocks, mtime sec/nsec, ctime sec/nsec, dev, rdev. */
  const make = (ino: [number, number], size: [number, number], m: [number, number], c: [number, number]) =>
    new NativeStat(0o100644, 1, 0, 0, ino[0], ino[1], size[0], size[1], 8, m[0], m[1], c[0], c[1], 8, 1, 0, 0);

  const cases: Array<[string, ReturnType<typeof make>]> = [
    ["now", make([123456, 0], [5000, 0], [1_764_200_000, 999_999_999], [1_764_200_001, 1])],
    ["large inode and size", make([0xfffffffe, 0x7], [17, 0x2], [0, 0], [4_294_967_295, 500_000_000])],
    ["year 2200", make([1, 0], [1, 0], [7_258_118_400, 123_456_789], [7_258_118_400, 0])],
    ["before 1970", make([1, 0], [1, 0], [-34_560_000, 456_000_000], [-1, 999_999_999])],
  ];
  for (const [what, st] of cases) {
    test(`${what}: equal to its own encoded record, unequal when any field differs by one`, () => {
      const record = (s: { ino: bigint; mtimeNs: bigint; ctimeNs: bigint; size: bigint }) => {
        const body = encodeEntryBody(Buffer.from("f"), { flags: 0, mode: 0o100644, uid: 0, gid: 0, ino: s.ino, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, size: Number(s.size) }, { kind: "file", payloadOffset: 0, payloadLength: 0, sha256: new Uint8Array(32) });
        return new DataView(body.buffer, body.byteOffset, body.byteLength);
      };
      const at = 2 + 1; // the fixed fields follow the name length and the 1-byte name
      const base = { ino: st.ino, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, size: st.size };
      expect(st.sameAs(record(base), at)).toBe(true);
      for (const k of ["ino", "mtimeNs", "ctimeNs", "size"] as const) {
        expect({ k, same: st.sameAs(record({ ...base, [k]: base[k] + 1n }), at) }).toEqual({ k, same: false });
        if (base[k] > 0n) expect({ k, same: st.sameAs(record({ ...base, [k]: base[k] - 1n }), at) }).toEqual({ k, same: false });
      }
    });
  }
});
