/**
 * Checks nextRuns against a brute-force oracle around DST changes: step through every minute,
 * read the local clock with Intl, and apply the documented rules directly (a matching reading
 * runs; a reading seen before runs again only if the event allows every hour). The oracle
 * shares only the parser with the code under test.
 */
import { describe, expect, test } from "bun:test";
import { nextRuns, parseCalendarEvent, type CalendarEvent, type Field } from "../../../src/tasks/calendar/index.ts";

const SPECS = [
  "*:0/15", "02:30", "2:0/15", "hourly", "minutely", "1..3:00/20", "*:30", "2/4:30", "daily",
  "mon..fri 02:00", "*:0/7", "0/3:45", "01:30", "03:00", "02:00", "sun *:0/10", "1,2:59", "01:45",
];

/** [zone, instant shortly before a change] */
const WINDOWS: [string, string][] = [
  ["Europe/Vienna", "2026-03-29T00:00:00Z"], // 02:00 CET -> 03:00 CEST
  ["Europe/Vienna", "2026-10-25T00:00:00Z"], // 03:00 CEST -> 02:00 CET
  ["America/New_York", "2026-03-08T05:00:00Z"], // 02:00 EST -> 03:00 EDT
  ["America/New_York", "2026-11-01T04:00:00Z"], // 02:00 EDT -> 01:00 EST
  ["Australia/Sydney", "2026-04-04T14:00:00Z"], // 03:00 AEDT -> 02:00 AEST
  ["Australia/Sydney", "2026-10-03T14:00:00Z"], // 02:00 AEST -> 03:00 AEDT
  ["Australia/Lord_Howe", "2026-04-04T13:30:00Z"], // 02:00 -> 01:30 (half-hour change)
  ["Australia/Lord_Howe", "2026-10-03T14:00:00Z"], // 02:00 -> 02:30
];

const LEAD = 3 * 3600;
const SPAN = 12 * 3600;

interface Reading {
  t: number;
  key: string;
  f: { year: number; month: number; day: number; hour: number; minute: number; second: number; weekday: number };
}

function readings(zone: string, start: number): Reading[] {
  const fmt = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone,
    hourCycle: "h23",
    weekday: "short",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
  const days: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
  const out: Reading[] = [];
  for (let t = start - LEAD; t <= start + SPAN; t += 60) {
    const p = Object.fromEntries(fmt.formatToParts(new Date(t * 1000)).map((x) => [x.type, x.value]));
    const f = { year: +p.year, month: +p.month, day: +p.day, hour: +p.hour, minute: +p.minute, second: +p.second, weekday: days[p.weekday] };
    out.push({ t, f, key: `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}` });
  }
  return out;
}

function inField(field: Field, v: number, max: number): boolean {
  if (field === null) return true;
  return field.some((c) => {
    const last = c.end ?? (c.step ? max : c.start);
    return v >= c.start && v <= last && (v - c.start) % (c.step ?? 1) === 0;
  });
}

function matches(ev: CalendarEvent, f: Reading["f"]): boolean {
  return (
    (ev.weekdays === 0 || (ev.weekdays & (1 << f.weekday)) !== 0) &&
    inField(ev.years, f.year, 2199) &&
    inField(ev.months, f.month, 12) &&
    inField(ev.days, f.day, 31) &&
    inField(ev.hours, f.hour, 23) &&
    inField(ev.minutes, f.minute, 59) &&
    inField(ev.seconds, f.second, 59)
  );
}

function oracle(ev: CalendarEvent, rs: Reading[], after: number): number[] {
  const everyHour = Array.from({ length: 24 }, (_, h) => h).every((h) => inField(ev.hours, h, 23));
  const seen = new Set<string>();
  const runs: number[] = [];
  for (const r of rs) {
    const repeat = seen.has(r.key);
    seen.add(r.key);
    if (r.t > after && matches(ev, r.f) && (everyHour || !repeat)) runs.push(r.t);
  }
  return runs;
}

describe("nextRuns agrees with a minute-by-minute oracle around DST changes", () => {
  for (const [zone, startIso] of WINDOWS) {
    test(`${zone} around ${startIso}`, () => {
      const start = Date.parse(startIso) / 1000;
      const rs = readings(zone, start);
      let compared = 0;
      for (const spec of SPECS) {
        const ev = parseCalendarEvent(spec);
        // Starting points before, inside and after the changed stretch.
        for (let k = 0; k < 8; k++) {
          const after = start + k * 17 * 60;
          const expected = oracle(ev, rs, after).slice(0, 150);
          const got = nextRuns(ev, new Date(after * 1000), expected.length + 1, zone).map((d) => d.getTime() / 1000);
          const label = `${spec} in ${zone} after ${new Date(after * 1000).toISOString()}`;
          expect({ label, runs: got.slice(0, expected.length) }).toEqual({ label, runs: expected });
          // When the oracle saw every run of the stretch, the next one lies beyond it.
          if (expected.length < 150 && got.length > expected.length) expect(got[expected.length]).toBeGreaterThan(start + SPAN);
          compared++;
        }
      }
      expect(compared).toBe(SPECS.length * 8);
    });
  }
});
