import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { normalizeDatastorePath, pathsNest, physicalPath, validateDatastoreName } from "../../../src/datastore/admin/names.ts";
import { describeFsError } from "../../../src/datastore/admin/fs-errors.ts";
import { formatSize } from "../../../src/datastore/admin/human.ts";
import { thrown } from "./helpers.ts";

describe("datastore names", () => {
  test("PBS-style: 3..32 chars of [A-Za-z0-9._-], not starting with '.' or '-'", () => {
    for (const ok of ["abc", "store1", "_x1", "nas-01.backup", "a".repeat(32)]) expect(validateDatastoreName(ok)).toBe(ok);
    for (const bad of ["ab", "a".repeat(33), ".hidden", "-dash", "has space", "a/b", "ünï", ""]) {
      expect(() => validateDatastoreName(bad)).toThrow(/datastore name .* is invalid/);
    }
  });

  test("invalid names are usage errors (exit 2, HTTP 400)", async () => {
    const err = await thrown(() => validateDatastoreName("x"));
    expect(err.exitCode).toBe(2);
    expect(err.httpStatus).toBe(400);
  });
});

describe("datastore paths", () => {
  test("must be absolute; are normalized; / is refused", () => {
    expect(normalizeDatastorePath("/srv/ibs/store1/")).toBe("/srv/ibs/store1");
    expect(normalizeDatastorePath("/srv/ibs/../ibs/./store1")).toBe("/srv/ibs/store1");
    expect(() => normalizeDatastorePath("srv/store")).toThrow(/is not absolute/);
    expect(() => normalizeDatastorePath("/")).toThrow(/root directory/);
    expect(() => normalizeDatastorePath("/srv/a\nb")).toThrow(/control characters/);
  });

  test("nesting: equal, inside or containing; a shared name prefix is not nesting", () => {
    expect(pathsNest("/srv/a", "/srv/a")).toBe(true);
    expect(pathsNest("/srv/a/b", "/srv/a")).toBe(true);
    expect(pathsNest("/srv/a", "/srv/a/b")).toBe(true);
    expect(pathsNest("/srv/ab", "/srv/a")).toBe(false);
  });

  test("physicalPath resolves symlinks of the existing part", () => {
    const root = mkdtempSync(join(tmpdir(), "ibs-names-"));
    mkdirSync(join(root, "real"));
    symlinkSync(join(root, "real"), join(root, "link"));
    try {
      expect(physicalPath(join(root, "link", "not", "yet"))).toBe(join(root, "real", "not", "yet"));
    } finally {
      rmSync(root, { recursive: true });
    }
  });
});

describe("filesystem error causes", () => {
  test("errno codes map to the operator's words; ENOSPC splits into space and inodes", () => {
    const e = (code: string) => Object.assign(new Error(code), { code });
    expect(describeFsError(e("EROFS")).cause).toBe("read-only");
    expect(describeFsError(e("EACCES")).text).toBe("permission denied");
    expect(describeFsError(e("ENOSPC")).cause).toBe("no-space");
    expect(describeFsError(e("ENOSPC"), true).cause).toBe("no-inodes");
    expect(describeFsError(e("EDQUOT")).cause).toBe("quota");
  });

  test("sizes read like df -h (rounded up, one decimal below 10)", () => {
    expect(formatSize(0)).toBe("0B");
    expect(formatSize(1023)).toBe("1023B");
    expect(formatSize(2 * 1024 * 1024)).toBe("2.0M");
    expect(formatSize(1.01 * 1024 ** 3)).toBe("1.1G");
    expect(formatSize(252.3 * 1024 ** 3)).toBe("253G");
    expect(formatSize(16_777_216, true)).toBe("16M");
  });
});
