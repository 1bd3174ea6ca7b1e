/**
 * The period keys prune's keep options compare, read in a time zone like PBS's
 * `strftime_local`: hourly "%Y/%m/%d/%H", daily "%Y/%m/%d", weekly "%G/%V" (ISO 8601 week
 * and week-based year: weeks start on Monday, and week 1 is the one holding the year's first
 * Thursday, so 2027-01-01 falls in 2026/53), monthly "%Y/%m", yearly "%Y".
 */
import { wallAt } from "../tasks/calendar/zone.ts";

export type Period = "hourly" | "daily" | "weekly" | "monthly" | "yearly";

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** ISO week-based year and week of a calendar date. */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = Date.UTC(year, month - 1, day);
  const weekday = (new Date(date).getUTCDay() + 6) % 7; // Monday 0 .. Sunday 6
  const thursday = new Date(date + (3 - weekday) * 86_400_000); // the week belongs to its Thursday's year
  const isoYear = thursday.getUTCFullYear();
  const dayOfYear = Math.floor((thursday.getTime() - Date.UTC(isoYear, 0, 1)) / 86_400_000);
  return { year: isoYear, week: Math.floor(dayOfYear / 7) + 1 };
}

/** The key of the period holding `epochSec`, read in `timeZone`. */
export function periodKey(period: Period, epochSec: number, timeZone: string): string {
  const wall = new Date(wallAt(timeZone, Math.floor(epochSec)) * 1000);
  const y = wall.getUTCFullYear();
  const m = wall.getUTCMonth() + 1;
  const d = wall.getUTCDate();
  switch (period) {
    case "hourly":
      return `${y}/${pad(m)}/${pad(d)}/${pad(wall.getUTCHours())}`;
    case "daily":
      return `${y}/${pad(m)}/${pad(d)}`;
    case "weekly": {
      const w = isoWeek(y, m, d);
      return `${w.year}/${pad(w.week)}`;
    }
    case "monthly":
      return `${y}/${pad(m)}`;
    case "yearly":
      return String(y);
  }
}
