import { afterAll, expect, spyOn, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openServiceLog } from "../../../src/log/logger.ts";

const dir = mkdtempSync(join(tmpdir(), "ibs-logger-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("lines are JSON with secrets redacted", () => {
  const log = openServiceLog(dir, "api");
  log.child({ upid: "U1" }).error("request failed", { password: "hunter2", err: new Error("boom") });
  log.close();
  const line = JSON.parse(readFileSync(join(dir, "api.log"), "utf8").trim());
  expect(line).toMatchObject({ level: "error", service: "api", msg: "request failed", upid: "U1", password: "[redacted]", err: "boom" });
});

test("a log on a full disk does not throw into the caller: the line goes to stderr with the reason", () => {
  symlinkSync("/dev/full", join(dir, "full.log")); // every write to /dev/full fails with ENOSPC
  const log = openServiceLog(dir, "full");
  const stderr = spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    expect(() => log.error("request failed", { path: "/reader" })).not.toThrow();
    expect(String(stderr.mock.calls[0]?.[0])).toMatch(/full\.log not written \(ENOSPC\): \{.*"msg":"request failed"/);
  } finally {
    stderr.mockRestore();
    log.close();
  }
});
