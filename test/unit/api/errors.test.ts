import { expect, test } from "bun:test";
import { writeSync } from "node:fs";
import { mapError } from "../../../src/api/errors.ts";

const errnoError = (code: string) => Object.assign(new Error(`${code}: no space left on device, write`), { code, errno: -28, syscall: "write" });

test("a full disk on the server is a 507 that says so, not an internal error; the cause still goes to api.log", () => {
  // SQLITE_FULL: bun:sqlite's SQLiteError when the state database cannot grow.
  for (const [code, says] of [["ENOSPC", "no space left on device"], ["EDQUOT", "disk quota exceeded"], ["SQLITE_FULL", "no space left on device"]] as const) {
    const err = errnoError(code);
    const m = mapError(err);
    expect(m.status).toBe(507);
    expect(m.body.error.code).toBe("insufficient_storage");
    expect(m.body.error.message).toContain(says);
    expect(String(m.body.error.details.hint)).toContain("free space");
    expect(m.internal).toBe(err);
  }
});

test("other failures stay internal errors with the detail only in the log", () => {
  let err: unknown;
  try {
    writeSync(-1, "x");
  } catch (e) {
    err = e;
  }
  const m = mapError(err);
  expect(m.status).toBe(500);
  expect(m.body.error.message).toBe("internal error; see api.log");
});
