import { describe, expect, test } from "bun:test";
import { CalendarEventError, nextRuns, normalizeCalendarEvent, parseCalendarEvent } from "../../../src/tasks/calendar/index.ts";
import { UsageError } from "../../../src/util/errors.ts";

/**
 * spec, expected normalised form, start (exclusive), zone, expected next runs (UTC).
 * Reference days: 2026-01-15 is a Thursday; 2028 and 2032 are leap years;
 * Vienna changes 2026-03-29 01:00Z (CET->CEST) and 2026-10-25 01:00Z (CEST->CET);
 * New York 2026-03-08 07:00Z (EST->EDT) and 2026-11-01 06:00Z (EDT->EST);
 * Sydney 2026-04-05 16:00Z on Apr 4 (AEDT->AEST).
 */
type Case = [spec: string, normalized: string, from: string, zone: string, next: string[]];

const THU = "2026-01-15T10:20:30Z";

const CASES: Case[] = [
  // shortcuts
  ["minutely", "*-*-* *:*:00", THU, "UTC", ["2026-01-15T10:21:00Z", "2026-01-15T10:22:00Z"]],
  ["hourly", "*-*-* *:00:00", THU, "UTC", ["2026-01-15T11:00:00Z", "2026-01-15T12:00:00Z"]],
  ["daily", "*-*-* 00:00:00", THU, "UTC", ["2026-01-16T00:00:00Z", "2026-01-17T00:00:00Z"]],
  ["weekly", "Mon *-*-* 00:00:00", THU, "UTC", ["2026-01-19T00:00:00Z", "2026-01-26T00:00:00Z"]],
  ["monthly", "*-*-01 00:00:00", THU, "UTC", ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]],
  ["yearly", "*-01-01 00:00:00", THU, "UTC", ["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]],
  ["annually", "*-01-01 00:00:00", THU, "UTC", ["2027-01-01T00:00:00Z"]],
  ["quarterly", "*-01,04,07,10-01 00:00:00", THU, "UTC", ["2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z"]],
  ["semiannually", "*-01,07-01 00:00:00", THU, "UTC", ["2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"]],
  ["semi-annually", "*-01,07-01 00:00:00", THU, "UTC", ["2026-07-01T00:00:00Z"]],
  ["Daily", "*-*-* 00:00:00", THU, "UTC", ["2026-01-16T00:00:00Z"]],
  ["  daily  ", "*-*-* 00:00:00", THU, "UTC", ["2026-01-16T00:00:00Z"]],
  // weekdays
  ["mon..fri 02:00", "Mon..Fri *-*-* 02:00:00", THU, "UTC", ["2026-01-16T02:00:00Z", "2026-01-19T02:00:00Z", "2026-01-20T02:00:00Z"]],
  ["sat,sun", "Sat,Sun *-*-* 00:00:00", THU, "UTC", ["2026-01-17T00:00:00Z", "2026-01-18T00:00:00Z", "2026-01-24T00:00:00Z"]],
  ["Mon,Wed..Fri", "Mon,Wed..Fri *-*-* 00:00:00", THU, "UTC", ["2026-01-16T00:00:00Z", "2026-01-19T00:00:00Z", "2026-01-21T00:00:00Z"]],
  ["fri..mon", "Mon,Fri..Sun *-*-* 00:00:00", THU, "UTC", ["2026-01-16T00:00:00Z", "2026-01-17T00:00:00Z", "2026-01-18T00:00:00Z", "2026-01-19T00:00:00Z", "2026-01-23T00:00:00Z"]],
  ["sat..sun", "Sat,Sun *-*-* 00:00:00", THU, "UTC", ["2026-01-17T00:00:00Z"]],
  ["mon..sun", "Mon..Sun *-*-* 00:00:00", THU, "UTC", ["2026-01-16T00:00:00Z"]],
  ["MON", "Mon *-*-* 00:00:00", THU, "UTC", ["2026-01-19T00:00:00Z"]],
  ["monDay,Tuesday", "Mon,Tue *-*-* 00:00:00", THU, "UTC", ["2026-01-19T00:00:00Z", "2026-01-20T00:00:00Z"]],
  ["mon,mon,tue", "Mon,Tue *-*-* 00:00:00", THU, "UTC", ["2026-01-19T00:00:00Z"]],
  ["thu", "Thu *-*-* 00:00:00", THU, "UTC", ["2026-01-22T00:00:00Z"]],
  ["Sat *-1..7 15:00", "Sat *-*-01..07 15:00:00", THU, "UTC", ["2026-02-07T15:00:00Z", "2026-03-07T15:00:00Z", "2026-04-04T15:00:00Z"]],
  ["mon..fri 8..17,22:0/15", "Mon..Fri *-*-* 08..17,22:00/15:00", "2026-01-15T17:50:00Z", "UTC", ["2026-01-15T22:00:00Z", "2026-01-15T22:15:00Z", "2026-01-15T22:30:00Z", "2026-01-15T22:45:00Z", "2026-01-16T08:00:00Z"]],
  ["fri 12..13:5/20", "Fri *-*-* 12..13:05/20:00", THU, "UTC", ["2026-01-16T12:05:00Z", "2026-01-16T12:25:00Z", "2026-01-16T12:45:00Z", "2026-01-16T13:05:00Z"]],
  // times
  ["02:00", "*-*-* 02:00:00", THU, "UTC", ["2026-01-16T02:00:00Z", "2026-01-17T02:00:00Z"]],
  ["02:00", "*-*-* 02:00:00", "2026-01-16T02:00:00Z", "UTC", ["2026-01-17T02:00:00Z"]],
  ["02:00", "*-*-* 02:00:00", "2026-01-16T01:59:59.999Z", "UTC", ["2026-01-16T02:00:00Z"]],
  ["2:00:30", "*-*-* 02:00:30", THU, "UTC", ["2026-01-16T02:00:30Z"]],
  ["*:0/15", "*-*-* *:00/15:00", THU, "UTC", ["2026-01-15T10:30:00Z", "2026-01-15T10:45:00Z", "2026-01-15T11:00:00Z"]],
  ["*:*/10", "*-*-* *:00/10:00", THU, "UTC", ["2026-01-15T10:30:00Z", "2026-01-15T10:40:00Z"]],
  ["0/2:00", "*-*-* 00/2:00:00", THU, "UTC", ["2026-01-15T12:00:00Z", "2026-01-15T14:00:00Z"]],
  ["*/10:00", "*-*-* 00/10:00:00", THU, "UTC", ["2026-01-15T20:00:00Z", "2026-01-16T00:00:00Z", "2026-01-16T10:00:00Z"]],
  ["12/2:5", "*-*-* 12/2:05:00", THU, "UTC", ["2026-01-15T12:05:00Z", "2026-01-15T14:05:00Z"]],
  ["2,22:0/15", "*-*-* 02,22:00/15:00", THU, "UTC", ["2026-01-15T22:00:00Z", "2026-01-15T22:15:00Z", "2026-01-15T22:30:00Z", "2026-01-15T22:45:00Z", "2026-01-16T02:00:00Z"]],
  ["8..17:00", "*-*-* 08..17:00:00", "2026-01-15T16:30:00Z", "UTC", ["2026-01-15T17:00:00Z", "2026-01-16T08:00:00Z", "2026-01-16T09:00:00Z"]],
  ["4..10/2:0", "*-*-* 04..10/2:00:00", THU, "UTC", ["2026-01-16T04:00:00Z", "2026-01-16T06:00:00Z", "2026-01-16T08:00:00Z", "2026-01-16T10:00:00Z", "2026-01-17T04:00:00Z"]],
  ["10,5:8,4", "*-*-* 05,10:04,08:00", THU, "UTC", ["2026-01-16T05:04:00Z", "2026-01-16T05:08:00Z", "2026-01-16T10:04:00Z"]],
  ["6,4..10:23,5/5", "*-*-* 04..10,06:05/5,23:00", "2026-01-15T00:00:00Z", "UTC", ["2026-01-15T04:05:00Z", "2026-01-15T04:10:00Z"]],
  ["2,2:00", "*-*-* 02:00:00", THU, "UTC", ["2026-01-16T02:00:00Z"]],
  ["5", "*-*-* *:05:00", THU, "UTC", ["2026-01-15T11:05:00Z", "2026-01-15T12:05:00Z"]],
  ["*", "*-*-* *:*:00", THU, "UTC", ["2026-01-15T10:21:00Z", "2026-01-15T10:22:00Z"]],
  ["*:*", "*-*-* *:*:00", THU, "UTC", ["2026-01-15T10:21:00Z"]],
  ["*:3:5", "*-*-* *:03:05", THU, "UTC", ["2026-01-15T11:03:05Z", "2026-01-15T12:03:05Z"]],
  ["*:*:*", "*-*-* *:*:*", "2026-12-31T23:59:58Z", "UTC", ["2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z", "2027-01-01T00:00:01Z"]],
  ["*:*:0/20", "*-*-* *:*:00/20", THU, "UTC", ["2026-01-15T10:20:40Z", "2026-01-15T10:21:00Z"]],
  // dates, month ends, leap years, year boundaries
  ["2026-12-24", "2026-12-24 00:00:00", THU, "UTC", ["2026-12-24T00:00:00Z"]],
  ["*-12-*", "*-12-* 00:00:00", THU, "UTC", ["2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"]],
  ["*-*-1..7", "*-*-01..07 00:00:00", THU, "UTC", ["2026-02-01T00:00:00Z", "2026-02-02T00:00:00Z"]],
  ["*-*-31", "*-*-31 00:00:00", THU, "UTC", ["2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"]],
  ["*-*-29", "*-*-29 00:00:00", "2027-01-30T00:00:00Z", "UTC", ["2027-03-29T00:00:00Z"]],
  ["*-*-29", "*-*-29 00:00:00", "2028-01-30T00:00:00Z", "UTC", ["2028-02-29T00:00:00Z", "2028-03-29T00:00:00Z"]],
  ["*-02-29", "*-02-29 00:00:00", THU, "UTC", ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]],
  ["Mon *-02-29", "Mon *-02-29 00:00:00", THU, "UTC", ["2044-02-29T00:00:00Z", "2072-02-29T00:00:00Z"]],
  ["2026,2028-02-29", "2026,2028-02-29 00:00:00", THU, "UTC", ["2028-02-29T00:00:00Z"]],
  ["*-12-31 23:59:59", "*-12-31 23:59:59", "2026-12-31T23:59:58Z", "UTC", ["2026-12-31T23:59:59Z", "2027-12-31T23:59:59Z"]],
  ["*-01-01 00:00", "*-01-01 00:00:00", "2026-12-31T23:59:59.999Z", "UTC", ["2027-01-01T00:00:00Z"]],
  ["2026-7..9-2/2", "2026-07..09-02/2 00:00:00", "2026-07-31T00:00:00Z", "UTC", ["2026-08-02T00:00:00Z", "2026-08-04T00:00:00Z"]],
  ["2025/5-01-01", "2025/5-01-01 00:00:00", THU, "UTC", ["2030-01-01T00:00:00Z", "2035-01-01T00:00:00Z"]],
  ["*-*-*/10", "*-*-01/10 00:00:00", THU, "UTC", ["2026-01-21T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"]],
  ["*-*-* *:*:*", "*-*-* *:*:*", THU, "UTC", ["2026-01-15T10:20:31Z"]],
  ["12-24 18:00", "*-12-24 18:00:00", THU, "UTC", ["2026-12-24T18:00:00Z", "2027-12-24T18:00:00Z"]],
  ["2199-12-31 23:59:59", "2199-12-31 23:59:59", THU, "UTC", ["2199-12-31T23:59:59Z"]],
  // never again
  ["2015-10-21", "2015-10-21 00:00:00", THU, "UTC", []],
  ["2020-01-01", "2020-01-01 00:00:00", THU, "UTC", []],
  ["*-02-30", "*-02-30 00:00:00", THU, "UTC", []],
  ["2027-02-29", "2027-02-29 00:00:00", THU, "UTC", []],
  ["*-04-31 12:00", "*-04-31 12:00:00", THU, "Europe/Vienna", []],
  // UTC keyword wins over the zone given
  ["daily UTC", "*-*-* 00:00:00 UTC", THU, "Europe/Vienna", ["2026-01-16T00:00:00Z"]],
  ["mon..fri 02:00 utc", "Mon..Fri *-*-* 02:00:00 UTC", THU, "America/New_York", ["2026-01-16T02:00:00Z"]],
  // zones without DST at that time
  ["daily", "*-*-* 00:00:00", "2026-01-15T00:00:00Z", "Asia/Kolkata", ["2026-01-15T18:30:00Z", "2026-01-16T18:30:00Z"]],
  ["mon..fri 02:00", "Mon..Fri *-*-* 02:00:00", THU, "Europe/Vienna", ["2026-01-16T01:00:00Z", "2026-01-19T01:00:00Z"]],
  ["*-*-31", "*-*-31 00:00:00", THU, "America/New_York", ["2026-01-31T05:00:00Z", "2026-03-31T04:00:00Z"]],
  // Vienna, spring forward 2026-03-29: 02:00..02:59 local does not exist
  ["02:30", "*-*-* 02:30:00", "2026-03-28T12:00:00Z", "Europe/Vienna", ["2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"]],
  ["*:0/30", "*-*-* *:00/30:00", "2026-03-29T00:15:00Z", "Europe/Vienna", ["2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"]],
  ["2/4:30", "*-*-* 02/4:30:00", "2026-03-29T00:00:00Z", "Europe/Vienna", ["2026-03-29T04:30:00Z", "2026-03-29T08:30:00Z"]],
  ["daily", "*-*-* 00:00:00", "2026-03-27T23:30:00Z", "Europe/Vienna", ["2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"]],
  ["hourly", "*-*-* *:00:00", "2026-03-29T00:30:00Z", "Europe/Vienna", ["2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"]],
  // Vienna, fall back 2026-10-25: 02:00..02:59 local happens twice
  ["02:30", "*-*-* 02:30:00", "2026-10-24T12:00:00Z", "Europe/Vienna", ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]],
  ["02:30", "*-*-* 02:30:00", "2026-10-25T01:10:00Z", "Europe/Vienna", ["2026-10-26T01:30:00Z"]],
  ["02:30", "*-*-* 02:30:00", "2026-10-25T00:40:00Z", "Europe/Vienna", ["2026-10-26T01:30:00Z"]],
  ["2:0/15", "*-*-* 02:00/15:00", "2026-10-25T00:40:00Z", "Europe/Vienna", ["2026-10-25T00:45:00Z", "2026-10-26T01:00:00Z"]],
  ["hourly", "*-*-* *:00:00", "2026-10-24T23:30:00Z", "Europe/Vienna", ["2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"]],
  ["*:0/15", "*-*-* *:00/15:00", "2026-10-25T00:50:00Z", "Europe/Vienna", ["2026-10-25T01:00:00Z", "2026-10-25T01:15:00Z", "2026-10-25T01:30:00Z"]],
  ["daily", "*-*-* 00:00:00", "2026-10-24T21:59:59Z", "Europe/Vienna", ["2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"]],
  // New York, spring forward 2026-03-08 and fall back 2026-11-01
  ["02:30", "*-*-* 02:30:00", "2026-03-07T12:00:00Z", "America/New_York", ["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]],
  ["*:0/20", "*-*-* *:00/20:00", "2026-03-08T06:30:00Z", "America/New_York", ["2026-03-08T06:40:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:20:00Z"]],
  ["mon..fri 02:00", "Mon..Fri *-*-* 02:00:00", "2026-03-06T12:00:00Z", "America/New_York", ["2026-03-09T06:00:00Z", "2026-03-10T06:00:00Z"]],
  ["01:30", "*-*-* 01:30:00", "2026-10-31T12:00:00Z", "America/New_York", ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]],
  ["hourly", "*-*-* *:00:00", "2026-11-01T04:30:00Z", "America/New_York", ["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"]],
  ["minutely", "*-*-* *:*:00", "2026-11-01T05:58:30Z", "America/New_York", ["2026-11-01T05:59:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:01:00Z"]],
  ["sun 1:15", "Sun *-*-* 01:15:00", "2026-10-31T00:00:00Z", "America/New_York", ["2026-11-01T05:15:00Z", "2026-11-08T06:15:00Z"]],
  // southern hemisphere: Sydney falls back 2026-04-05 03:00 AEDT -> 02:00 AEST
  ["02:30", "*-*-* 02:30:00", "2026-04-04T12:00:00Z", "Australia/Sydney", ["2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"]],
];

describe("calendar events: normalised form and next runs", () => {
  test.each(CASES)("%p -> %p from %p in %p", (spec, normalized, from, zone, next) => {
    const ev = parseCalendarEvent(spec);
    expect(normalizeCalendarEvent(ev)).toBe(normalized);
    const runs = nextRuns(ev, new Date(from), next.length || 3, zone).map((d) => d.toISOString().replace(".000Z", "Z"));
    expect(runs).toEqual(next);
  });

  test("the table is big enough to mean something", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
  });

  test("the normalised form parses back to the same event", () => {
    for (const [spec] of CASES) {
      const normalized = normalizeCalendarEvent(parseCalendarEvent(spec));
      expect(normalizeCalendarEvent(parseCalendarEvent(normalized))).toBe(normalized);
    }
  });

  test("runs are strictly increasing and strictly after the start", () => {
    const from = new Date("2026-10-24T20:00:00Z");
    for (const spec of ["*:0/15", "02:30", "minutely", "2:0/15", "hourly"]) {
      const runs = nextRuns(parseCalendarEvent(spec), from, 40, "Europe/Vienna");
      expect(runs.length).toBe(40);
      let prev = from.getTime();
      for (const r of runs) {
        expect(r.getTime()).toBeGreaterThan(prev);
        prev = r.getTime();
      }
    }
  });

  test("feeding each run back in as the start gives the same sequence", () => {
    const ev = parseCalendarEvent("*:0/20");
    const all = nextRuns(ev, new Date("2026-11-01T04:00:00Z"), 12, "America/New_York");
    let from = new Date("2026-11-01T04:00:00Z");
    for (const expected of all) {
      const [next] = nextRuns(ev, from, 1, "America/New_York");
      expect(next.toISOString()).toBe(expected.toISOString());
      from = next;
    }
  });

  test("count 0 gives no runs; a bad count or start is a usage error", () => {
    const ev = parseCalendarEvent("daily");
    expect(nextRuns(ev, new Date(THU), 0, "UTC")).toEqual([]);
    expect(() => nextRuns(ev, new Date(THU), -1, "UTC")).toThrow(UsageError);
    expect(() => nextRuns(ev, new Date("garbage"), 1, "UTC")).toThrow(/not a valid date/);
  });

  test("an unknown time zone is a usage error naming it", () => {
    expect(() => nextRuns(parseCalendarEvent("daily"), new Date(THU), 1, "Mars/Olympus")).toThrow(/unknown time zone 'Mars\/Olympus'/);
  });

  test("impossible and far-away specs are answered quickly (field jumps, not minute steps)", () => {
    const started = performance.now();
    expect(nextRuns(parseCalendarEvent("*-02-30 *:*:*"), new Date(THU), 5, "Europe/Vienna")).toEqual([]);
    expect(nextRuns(parseCalendarEvent("Mon *-02-29 23:59:59"), new Date(THU), 3, "America/New_York").length).toBe(3);
    expect(nextRuns(parseCalendarEvent("*:*:*"), new Date(THU), 2000, "Europe/Vienna").length).toBe(2000);
    // Minute-by-minute search over the 170 years these take would need hours.
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

/** [spec, 1-based position, reason] */
const INVALID: [string, number, string][] = [
  ["mon..fry 02:00", 6, "unknown weekday 'fry'"],
  ["xyz", 1, "unknown weekday 'xyz'"],
  ["constructor", 1, "unknown weekday 'constructor'"],
  ["mon toString", 5, "unexpected 'toString': expected [WEEKDAYS] [[YEAR-]MONTH-DAY] [[HOUR:]MINUTE[:SECOND]] [UTC] in this order"],
  ["mon..", 6, "expected a weekday name"],
  ["mon,,tue", 5, "expected a weekday name, got ','"],
  ["mon:00", 4, "unexpected ':' in weekday list (put a space between the weekdays and the date or time)"],
  ["", 1, "empty calendar event"],
  ["   ", 1, "empty calendar event"],
  ["25:00", 1, "hour 25 is out of range 0..23"],
  ["12:60", 4, "minute 60 is out of range 0..59"],
  ["12:00:61", 7, "second 61 is out of range 0..59"],
  ["2026-13-01", 6, "month 13 is out of range 1..12"],
  ["*-*-32", 5, "day 32 is out of range 1..31"],
  ["*-0-1", 3, "month 0 is out of range 1..12"],
  ["1969-01-01", 1, "year 1969 is out of range 1970..2199"],
  ["17..8:00", 1, "hour range 17..8 goes backwards (start is bigger than end)"],
  ["*:0/0", 5, "repetition step must be at least 1"],
  ["*:0/", 5, "expected a repetition step after '/'"],
  ["8..:00", 4, "expected an hour"],
  ["02:00 mon", 7, "weekday 'mon' must come first (join weekdays with ',' as in 'mon,tue')"],
  ["daily 02:00", 7, "'daily' cannot be combined with '02:00'"],
  ["mon daily", 5, "'daily' is a shortcut and cannot be combined with other parts"],
  ["*-*-1~7", 6, "'~' (days counted from the end of the month) is not supported"],
  ["UTC", 1, "'UTC' needs a date or time before it"],
  ["02:00:00.5", 9, "unexpected '.' in second (ranges are written 'A..B'; fractions of seconds are not supported)"],
  ["1:2:3:4", 6, "too many ':' in time (expected [HOUR:]MINUTE[:SECOND])"],
  ["2026-01-01-01", 11, "too many '-' in date (expected [YEAR-]MONTH-DAY)"],
  ["2026-12-24T02:00", 11, "unexpected 'T' in day"],
  ["*-*-* Europe/Vienna", 7, "unexpected 'Europe/Vienna': time zones other than UTC are not supported in a calendar event (the node's time zone is used)"],
  ["02:00 03:00", 7, "unexpected '03:00': only one time is allowed"],
  ["02:00 *-*-1", 7, "unexpected '*-*-1': the date must come before the time"],
  ["*-*-1 *-*-2", 7, "unexpected '*-*-2': only one date is allowed"],
  ["*,5:00", 2, "unexpected ',' in hour"],
  ["5,*:00", 3, "'*' cannot be combined with other values in an hour list"],
  ["2026--24", 6, "expected a month"],
  ["mon 02:00 @1700000000", 11, "'@' epoch timestamps are not supported in calendar events"],
  ["@1700000000", 1, "'@' epoch timestamps are not supported in calendar events"],
  ["*-*-* 02:00 foo", 13, "unexpected 'foo': expected [WEEKDAYS] [[YEAR-]MONTH-DAY] [[HOUR:]MINUTE[:SECOND]] [UTC] in this order"],
];

describe("invalid calendar events", () => {
  test.each(INVALID)("%p fails at position %p: %p", (spec, position, reason) => {
    let caught: unknown;
    try {
      parseCalendarEvent(spec);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CalendarEventError);
    expect(caught).toBeInstanceOf(UsageError);
    const err = caught as CalendarEventError;
    expect(err.exitCode).toBe(2);
    expect(err.position).toBe(position);
    expect(err.reason).toBe(reason);
    expect(err.message).toBe(`invalid calendar event '${spec}' at position ${position}: ${reason}`);
    expect(err.hint).toContain("mon..fri 02:00");
  });

  test("the brief's example message, verbatim", () => {
    expect(() => parseCalendarEvent("mon..fry 02:00")).toThrow("invalid calendar event 'mon..fry 02:00' at position 6: unknown weekday 'fry'");
  });
});
