/**
 * The start checks shared by `gc start` / `verify start` and the API routes: each error names
 * the option at fault (the API turns it into `body.<option>`), in the verify task's own words.
 */
import { describe, expect, test } from "bun:test";
import { gcStartOptions, StartOptionError, verifyStartOptions } from "../../../src/maintenance/start-request.ts";
import { parseVerifyTaskOptions } from "../../../src/maintenance/verify-task.ts";

function refusal(fn: () => unknown): StartOptionError {
  try {
    fn();
  } catch (err) {
    if (err instanceof StartOptionError) return err;
    throw err;
  }
  throw new Error("expected a StartOptionError");
}

describe("gc start options", () => {
  test("whole seconds, as strings for the task; absent and empty values are left out", () => {
    expect(gcStartOptions({ "grace-seconds": 0 })).toEqual({ "grace-seconds": "0" });
    expect(gcStartOptions({ "grace-seconds": "300" })).toEqual({ "grace-seconds": "300" });
    expect(gcStartOptions({ "grace-seconds": undefined })).toEqual({});
    expect(gcStartOptions({ "grace-seconds": "" })).toEqual({});
  });

  test("a bad value names the option; the CLI's message, the API's reason", () => {
    for (const v of [-1, 1.5, "x", "1e3"]) {
      const e = refusal(() => gcStartOptions({ "grace-seconds": v }));
      expect(e.option).toBe("grace-seconds");
      expect(e.message).toBe(`--grace-seconds: expected a whole number of seconds, got '${v}'`);
      expect(e.reason).toBe(`expected a whole number of seconds, got '${v}'`);
      expect(e.exitCode).toBe(2);
    }
    expect(refusal(() => gcStartOptions({ grace: 1 })).option).toBe("grace");
  });
});

describe("verify start options", () => {
  test("every option of `verify start`, as the task parses them", () => {
    const o = verifyStartOptions({ ns: "a/b", snapshot: "vm/100/2026-11-26T19:00:00Z", "ignore-verified": false, "outdated-after": 30, "max-concurrent-snapshots": 3, "notification-mode": "error", "verify-window-days": undefined });
    expect(o).toEqual({ ns: "a/b", snapshot: "vm/100/2026-11-26T19:00:00Z", "ignore-verified": "false", "outdated-after": "30", "max-concurrent-snapshots": "3", "notification-mode": "error" });
    expect(parseVerifyTaskOptions(o).verify).toMatchObject({ ns: ["a", "b"], ignoreVerified: false, outdatedAfterDays: 30, maxConcurrentSnapshots: 3 });
  });

  const bad: [Record<string, unknown>, string, string][] = [
    [{ "outdated-after": 0 }, "outdated-after", "expected a whole number of at least 1, got '0'"],
    [{ "max-concurrent-snapshots": "two" }, "max-concurrent-snapshots", "got 'two'"],
    [{ "verify-window-days": -3 }, "verify-window-days", "got '-3'"],
    [{ "ignore-verified": "maybe" }, "ignore-verified", "expected true or false, got 'maybe'"],
    [{ "notification-mode": "loud" }, "notification-mode", "'loud' is not a notification mode"],
    [{ snapshot: "vm/100" }, "snapshot", "is not TYPE/ID/TIME"],
    [{ ns: "a/../b" }, "ns", "'..'"],
    [{ ns: "ok", "outdated-after": 1, "verify-window-days": 7, snapshot: "vm/100/2026-11-26T19:00:00Z" }, "verify-window-days", "do not go together"],
    [{ colour: "red" }, "colour", "unknown option 'colour'"],
  ];
  for (const [values, option, text] of bad) {
    test(`${JSON.stringify(values)} names ${option}`, () => {
      const e = refusal(() => verifyStartOptions(values as any));
      expect(e.option).toBe(option);
      expect(e.reason).toContain(text);
      expect(e.reason.startsWith(`${option}:`) || e.reason.startsWith(`option ${option}:`)).toBe(false);
    });
  }

  test("the CLI keeps the verify task's own message", () => {
    let direct = "";
    try {
      parseVerifyTaskOptions({ "outdated-after": "0" });
    } catch (err) {
      direct = (err as Error).message;
    }
    expect(direct).not.toBe("");
    expect(refusal(() => verifyStartOptions({ "outdated-after": "0" })).message).toBe(direct);
  });
});
