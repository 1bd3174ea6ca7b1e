/**
 * IANA time zone arithmetic on top of Intl.DateTimeFormat (no tz database of our own).
 * Times are whole epoch seconds; a "wall" time is the local date-time encoded as if it were
 * UTC (wall = instant + offset), which makes field arithmetic on local times plain UTC math.
 */
import { UsageError } from "../../util/errors.ts";

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Validates an IANA zone name and returns its canonical spelling (`utc` -> `UTC`). */
export function resolveTimeZone(timeZone: string): string {
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone }).resolvedOptions().timeZone;
  } catch {
    throw new UsageError(`unknown time zone '${timeZone}'`, "use an IANA zone name such as Europe/Vienna, America/New_York or UTC");
  }
}

/** The zone this machine runs in (TZ variable or /etc/localtime), as Intl resolves it. */
export function machineTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

export function isUtcZone(timeZone: string): boolean {
  return timeZone === "UTC" || timeZone === "Etc/UTC" || timeZone === "Etc/GMT" || timeZone === "GMT";
}

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Seconds east of UTC in effect at `epochSec` (Vienna winter: 3600). */
export function offsetAt(timeZone: string, epochSec: number): number {
  if (isUtcZone(timeZone)) return 0;
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(epochSec * 1000))) {
    if (part.type !== "literal") p[part.type] = Number(part.value);
  }
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) / 1000;
  return wall - epochSec;
}

export function wallAt(timeZone: string, epochSec: number): number {
  return epochSec + offsetAt(timeZone, epochSec);
}

/**
 * Every instant whose local reading is `wall`, ascending: none for a time skipped by a
 * spring-forward change, two for a time repeated by a fall-back change, else one.
 * Assumes at most one offset change within a day of `wall` (true of every tzdb zone since 1970).
 */
export function instantsOf(timeZone: string, wall: number): number[] {
  if (isUtcZone(timeZone)) return [wall];
  const before = offsetAt(timeZone, wall - 86400);
  const after = offsetAt(timeZone, wall + 86400);
  const out: number[] = [];
  for (const off of before === after ? [before] : [before, after]) {
    const t = wall - off;
    if (offsetAt(timeZone, t) === off) out.push(t);
  }
  return out.sort((a, b) => a - b);
}

/** The first second in (lo, hi] whose offset differs from lo's; needs offsetAt(lo) !== offsetAt(hi). */
export function findTransition(timeZone: string, lo: number, hi: number): number {
  const offLo = offsetAt(timeZone, lo);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offsetAt(timeZone, mid) === offLo) lo = mid;
    else hi = mid;
  }
  return hi;
}
