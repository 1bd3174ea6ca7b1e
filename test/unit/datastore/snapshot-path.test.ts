import { expect, test } from "bun:test";
import {
  formatBackupTime,
  groupKey,
  parseBackupTime,
  parseContentKey,
  parseNamespace,
  snapshotKey,
  validateArchiveFilename,
  validateBackupId,
  validateBackupType,
  validateNamespace,
} from "../../../src/datastore/snapshot-path.ts";
import { UsageError } from "../../../src/util/errors.ts";

test("backup times: RFC 3339 UTC, second precision, real dates only", () => {
  expect(parseBackupTime("2026-11-26T19:00:00Z")).toBe(Date.UTC(2026, 10, 26, 19) / 1000);
  expect(formatBackupTime(Date.UTC(2026, 10, 26, 19) / 1000)).toBe("2026-11-26T19:00:00Z");
  for (const bad of ["2026-11-26 19:00:00Z", "2026-11-26T19:00:00", "2026-11-26T19:00:00.000Z", "2026-02-30T00:00:00Z", "2026-11-26T19:00:00+01:00", "x"]) {
    expect(() => parseBackupTime(bad)).toThrow(UsageError);
  }
  expect(() => parseBackupTime("2026-02-30T00:00:00Z")).toThrow("is not an RFC 3339 UTC time like 2026-11-26T19:00:00Z");
});

test("types and ids follow PBS's rules", () => {
  expect(validateBackupType("ct")).toBe("ct");
  expect(() => validateBackupType("lxc")).toThrow("backup type 'lxc' is not one of vm, ct, host");
  for (const ok of ["100", "web-01.example", "_x"]) expect(validateBackupId(ok)).toBe(ok);
  for (const bad of ["", "-x", ".x", "a/b", "a b", "x".repeat(129)]) expect(() => validateBackupId(bad)).toThrow(UsageError);
});

test("namespaces: parse, key layout, depth limit 8", () => {
  expect(parseNamespace("")).toEqual([]);
  expect(parseNamespace("/a/b/")).toEqual(["a", "b"]);
  const eight = Array.from({ length: 8 }, (_, i) => `n${i}`);
  expect(validateNamespace(eight)).toEqual(eight);
  expect(() => validateNamespace([...eight, "n8"])).toThrow("is 9 levels deep; the limit is 8");
  expect(() => parseNamespace("a/../b")).toThrow("component '..' is invalid");
  expect(groupKey({ ns: ["a", "b"], type: "vm", id: "1" })).toBe("ns/a/ns/b/vm/1");
  expect(snapshotKey({ ns: [], type: "host", id: "h", time: "2026-11-26T19:00:00Z" })).toBe("host/h/2026-11-26T19:00:00Z");
});

test("content keys parse back into names", () => {
  expect(parseContentKey("ns/a/ns/ns/vm/1/2026-11-26T19:00:00Z/root.didx")).toEqual({
    kind: "snapshot-file",
    snapshot: { ns: ["a", "ns"], type: "vm", id: "1", time: "2026-11-26T19:00:00Z" },
    file: "root.didx",
  });
  expect(parseContentKey("ct/7/owner")).toEqual({ kind: "group-file", group: { ns: [], type: "ct", id: "7" }, file: "owner" });
  expect(parseContentKey("ns/a/.namespace")).toEqual({ kind: "namespace-marker", ns: ["a"] });
  for (const other of [".chunks/abcd/x", "vm/1/not-a-time/x", "zz/1/owner", "vm/1", ".ibs/catalog.db"]) expect(parseContentKey(other)).toBeNull();
});

test("archive file names", () => {
  expect(validateArchiveFilename("drive-scsi0.img.fidx")).toBe("drive-scsi0.img.fidx");
  for (const bad of ["index.json.blob", "a.txt", ".hidden.blob", "a/b.blob", "owner"]) expect(() => validateArchiveFilename(bad)).toThrow(UsageError);
});
