/**
 * Wall-clock matching: finds the next local date-time (as "wall seconds", i.e. the local
 * fields encoded as if they were UTC) that a calendar event allows. Time zones are not
 * involved here; next.ts maps wall times to instants.
 *
 * The search jumps field by field (year, month, day, hour, minute, second) to the next
 * allowed value instead of stepping minute by minute, so even a spec that never matches
 * (`*-02-30`) is rejected after a few hundred steps: the search ends with the year 2199,
 * systemd's limit for calendar events.
 */
import { ALL_WEEKDAYS, FIELD_BOUNDS, type CalendarEvent, type Field, type FieldName } from "./types.ts";

export const MAX_YEAR = FIELD_BOUNDS.years.max;
const MIN_YEAR = FIELD_BOUNDS.years.min;

export interface Matcher {
  /** allowed[v - min] is 1 when value v matches. */
  years: Uint8Array;
  months: Uint8Array;
  days: Uint8Array;
  hours: Uint8Array;
  minutes: Uint8Array;
  seconds: Uint8Array;
  /** Bit 0 = Monday … bit 6 = Sunday. */
  weekdays: number;
  /** Every hour of the day matches (`*:0/15`, `hourly`, `minutely`): see the DST rules in next.ts. */
  everyHour: boolean;
}

export function compileMatcher(ev: CalendarEvent): Matcher {
  const hours = expand(ev.hours, "hours");
  return {
    years: expand(ev.years, "years"),
    months: expand(ev.months, "months"),
    days: expand(ev.days, "days"),
    hours,
    minutes: expand(ev.minutes, "minutes"),
    seconds: expand(ev.seconds, "seconds"),
    weekdays: ev.weekdays === 0 ? ALL_WEEKDAYS : ev.weekdays,
    everyHour: hours.every((v) => v === 1),
  };
}

function expand(f: Field, name: FieldName): Uint8Array {
  const { min, max } = FIELD_BOUNDS[name];
  const allowed = new Uint8Array(max - min + 1);
  if (f === null) return allowed.fill(1);
  for (const c of f) {
    const last = c.end ?? (c.step !== undefined ? max : c.start);
    const step = c.step ?? 1;
    for (let v = c.start; v <= last; v += step) allowed[v - min] = 1;
  }
  return allowed;
}

/** Smallest allowed value >= v, or -1. */
function nextAllowed(allowed: Uint8Array, min: number, v: number): number {
  for (let i = Math.max(v - min, 0); i < allowed.length; i++) if (allowed[i]) return i + min;
  return -1;
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** 0 = Monday … 6 = Sunday. */
export function weekdayOf(year: number, month: number, day: number): number {
  return (new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 6) % 7;
}

/**
 * The first wall time >= `fromWall` (whole seconds) that matches, or null if none does up to
 * the end of MAX_YEAR.
 */
export function nextMatchingWall(m: Matcher, fromWall: number): number | null {
  const d = new Date(fromWall * 1000);
  let y = d.getUTCFullYear();
  let mo = d.getUTCMonth() + 1;
  let day = d.getUTCDate();
  let h = d.getUTCHours();
  let mi = d.getUTCMinutes();
  let s = d.getUTCSeconds();

  // Each pass either returns or moves strictly forward by at least one unit of some field,
  // and every carry resets the smaller fields; the year bound ends the loop. The iteration cap
  // is a second fence in case of a bug, far above what any spec needs (~1,000 per century).
  for (let guard = 0; guard < 1_000_000; guard++) {
    const ny = nextAllowed(m.years, MIN_YEAR, y);
    if (ny < 0) return null;
    if (ny !== y) [y, mo, day, h, mi, s] = [ny, 1, 1, 0, 0, 0];

    const nmo = nextAllowed(m.months, 1, mo);
    if (nmo < 0) {
      [y, mo, day, h, mi, s] = [y + 1, 1, 1, 0, 0, 0];
      continue;
    }
    if (nmo !== mo) [mo, day, h, mi, s] = [nmo, 1, 0, 0, 0];

    const nday = nextDay(m, y, mo, day);
    if (nday < 0) {
      [mo, day, h, mi, s] = [mo + 1, 1, 0, 0, 0];
      continue;
    }
    if (nday !== day) [day, h, mi, s] = [nday, 0, 0, 0];

    const nh = nextAllowed(m.hours, 0, h);
    if (nh < 0) {
      [day, h, mi, s] = [day + 1, 0, 0, 0];
      continue;
    }
    if (nh !== h) [h, mi, s] = [nh, 0, 0];

    const nmi = nextAllowed(m.minutes, 0, mi);
    if (nmi < 0) {
      [h, mi, s] = [h + 1, 0, 0];
      continue;
    }
    if (nmi !== mi) [mi, s] = [nmi, 0];

    const ns = nextAllowed(m.seconds, 0, s);
    if (ns < 0) {
      [mi, s] = [mi + 1, 0];
      continue;
    }
    return Date.UTC(y, mo - 1, day, h, mi, ns) / 1000;
  }
  throw new Error(`calendar search did not finish (stopped at ${y}-${mo}-${day}); this is a bug`);
}

/** First day >= `day` in this month whose day-of-month and weekday both match, or -1. */
function nextDay(m: Matcher, y: number, mo: number, day: number): number {
  if (mo > 12) return -1;
  const dim = daysInMonth(y, mo);
  if (day > dim) return -1;
  let wd = weekdayOf(y, mo, day);
  for (let d = day; d <= dim; d++, wd = (wd + 1) % 7) if (m.days[d - 1] && m.weekdays & (1 << wd)) return d;
  return -1;
}
