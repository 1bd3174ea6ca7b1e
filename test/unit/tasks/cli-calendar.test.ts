import { describe, expect, spyOn, test } from "bun:test";
import { runCommand } from "citty";
import calendarCmd, { calendarCommand, parseFrom, renderCalendarText } from "../../../src/cli/calendar.ts";
import { CalendarEventError } from "../../../src/tasks/calendar/index.ts";
import { UsageError } from "../../../src/util/errors.ts";

describe("calendarCommand", () => {
  test("normalises and lists runs strictly after --from, as ISO UTC with Z", () => {
    const r = calendarCommand({ spec: "mon..fri 02:00", from: "2026-03-27T12:00:00Z", iterations: "3", tz: "Europe/Vienna" });
    expect(r).toEqual({
      spec: "mon..fri 02:00",
      normalized: "Mon..Fri *-*-* 02:00:00",
      next: ["2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z", "2026-04-01T00:00:00Z"],
    });
    expect(Object.keys(r)).toEqual(["spec", "normalized", "next"]);
  });

  test("defaults: 10 runs after now", () => {
    const now = new Date("2026-01-15T10:20:30Z");
    const r = calendarCommand({ spec: "hourly", tz: "UTC" }, now);
    expect(r.next.length).toBe(10);
    expect(r.next[0]).toBe("2026-01-15T11:00:00Z");
    expect(r.next[9]).toBe("2026-01-15T20:00:00Z");
  });

  test("--from as epoch seconds, with an offset, or as local time in --tz", () => {
    expect(calendarCommand({ spec: "daily", from: "1768472430", iterations: 1, tz: "UTC" }).next).toEqual(["2026-01-16T00:00:00Z"]);
    expect(calendarCommand({ spec: "daily", from: "2026-01-15T23:30:00-05:00", iterations: 1, tz: "UTC" }).next).toEqual(["2026-01-17T00:00:00Z"]);
    // 23:30 local in Vienna is 22:30Z; the next local midnight is 23:00Z.
    expect(calendarCommand({ spec: "daily", from: "2026-01-15T23:30:00", iterations: 1, tz: "Europe/Vienna" }).next).toEqual(["2026-01-15T23:00:00Z"]);
    expect(parseFrom("2026-01-15", "UTC").toISOString()).toBe("2026-01-15T00:00:00.000Z");
    expect(parseFrom("2026-01-15 10:00:00.250Z", "UTC").toISOString()).toBe("2026-01-15T10:00:00.250Z");
    expect(parseFrom("2026-10-25T02:30:00", "Europe/Vienna").toISOString()).toBe("2026-10-25T00:30:00.000Z");
  });

  test("a spec that never runs again has no next runs", () => {
    expect(calendarCommand({ spec: "2020-01-01", tz: "UTC" }).next).toEqual([]);
  });

  test("bad input is a usage error (exit code 2) naming the problem", () => {
    const cases: [Parameters<typeof calendarCommand>[0], RegExp][] = [
      [{ spec: "mon..fry 02:00" }, /at position 6: unknown weekday 'fry'/],
      [{ spec: "daily", tz: "Mars/Olympus" }, /unknown time zone 'Mars\/Olympus'/],
      [{ spec: "daily", iterations: "0" }, /--iterations: expected a whole number 1..1000, got '0'/],
      [{ spec: "daily", iterations: "ten" }, /--iterations/],
      [{ spec: "daily", from: "yesterday" }, /--from: expected RFC 3339/],
      [{ spec: "daily", from: "2026-02-30T00:00:00Z" }, /--from/],
      [{ spec: "daily", from: "2026-03-29T02:30:00", tz: "Europe/Vienna" }, /does not exist in Europe\/Vienna/],
    ];
    for (const [args, message] of cases) {
      let caught: unknown;
      try {
        calendarCommand(args);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(UsageError);
      expect((caught as UsageError).exitCode).toBe(2);
      expect((caught as Error).message).toMatch(message);
    }
    expect(() => calendarCommand({ spec: "25:00" })).toThrow(CalendarEventError);
  });
});

describe("text output", () => {
  test("reads like systemd-analyze calendar, local time and UTC", () => {
    const r = calendarCommand({ spec: "mon..fri 02:00", from: "2026-03-27T12:00:00Z", iterations: "2", tz: "Europe/Vienna" });
    expect(renderCalendarText(r, "Europe/Vienna")).toBe(
      [
        "  Original form: mon..fri 02:00",
        "Normalized form: Mon..Fri *-*-* 02:00:00",
        "      Time zone: Europe/Vienna",
        "    Next elapse: Mon 2026-03-30 02:00:00 CEST",
        "       (in UTC): Mon 2026-03-30 00:00:00 UTC",
        "   Iteration #2: Tue 2026-03-31 02:00:00 CEST",
        "       (in UTC): Tue 2026-03-31 00:00:00 UTC",
      ].join("\n"),
    );
  });

  test("the repeated hour shows both zone names; zones without a short name show the offset", () => {
    const r = calendarCommand({ spec: "hourly", from: "2026-11-01T04:30:00Z", iterations: "2", tz: "America/New_York" });
    const text = renderCalendarText(r, "America/New_York");
    expect(text).toContain("Next elapse: Sun 2026-11-01 01:00:00 EDT");
    expect(text).toContain("Iteration #2: Sun 2026-11-01 01:00:00 EST");
    const k = calendarCommand({ spec: "daily", from: "2026-01-15T00:00:00Z", iterations: "1", tz: "Asia/Kathmandu" });
    expect(renderCalendarText(k, "Asia/Kathmandu")).toMatch(/Next elapse: Fri 2026-01-16 00:00:00 (\+05:45|NPT)/);
  });

  test("never", () => {
    expect(renderCalendarText({ spec: "2020-01-01", normalized: "2020-01-01 00:00:00", next: [] }, "UTC")).toContain("    Next elapse: never");
  });
});

describe("the citty command", () => {
  test("--output-format json prints exactly {spec, normalized, next}", async () => {
    let out = "";
    const spy = spyOn(process.stdout, "write").mockImplementation(((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    }) as typeof process.stdout.write);
    try {
      await runCommand(calendarCmd, {
        rawArgs: ["*:0/15", "--from", "2026-01-15T10:20:30Z", "--iterations", "2", "--tz", "UTC", "--output-format", "json"],
      });
    } finally {
      spy.mockRestore();
    }
    expect(out).toBe('{"spec":"*:0/15","normalized":"*-*-* *:00/15:00","next":["2026-01-15T10:30:00Z","2026-01-15T10:45:00Z"]}\n');
  });

  test("an invalid spec throws a usage error for main.ts to report", async () => {
    await expect(runCommand(calendarCmd, { rawArgs: ["mon..fry 02:00"] })).rejects.toThrow(/position 6: unknown weekday 'fry'/);
  });
});
