/**
 * Next run times of a calendar event in an IANA time zone.
 *
 * A calendar event names local wall-clock times; DST changes make some of them not exist and
 * some exist twice. The rules (docs/calendar.md explains them to operators):
 *
 * - Spring forward: a local time that does not exist that day (02:30 in Vienna on the last
 *   Sunday of March) is skipped, as systemd does (systemd issue #5595 keeps this on purpose).
 *   Only that one time is lost: `2/4:30` still runs at 06:30 that day (systemd #13745 lost
 *   the whole day; we do not).
 * - Fall back: a local time that occurs twice runs once, at its first occurrence (the
 *   earlier instant, still in summer time). So `02:30` or `2:0/15` do not run again in the
 *   repeated hour.
 * - Exception: an event whose hour field allows every hour (`minutely`, `hourly`, `*:0/15`,
 *   `*:*:*`) is an interval in practice, and keeps following real time through the repeated
 *   hour: `hourly` runs at 02:00 summer time and again at 02:00 winter time, one real hour
 *   apart. Cron does the same for wildcard hours, and systemd's maintainers call skipping
 *   such runs a bug (systemd #8647).
 *
 * Efficiency: the wall-clock search jumps field by field (match.ts); the zone is consulted a
 * handful of times per run. The search ends with year 2199 (systemd's limit), so an event that
 * can never match again (`2020-01-01`, `*-02-30`) returns no runs after a bounded search.
 */
import { UsageError } from "../../util/errors.ts";
import { compileMatcher, nextMatchingWall, type Matcher } from "./match.ts";
import type { CalendarEvent } from "./types.ts";
import { findTransition, instantsOf, isUtcZone, offsetAt, resolveTimeZone, wallAt } from "./zone.ts";

/** Up to `count` run times strictly after `after`, ascending; fewer (or none) if the event ends. */
export function nextRuns(ev: CalendarEvent, after: Date, count: number, timeZone: string): Date[] {
  const start = after.getTime();
  if (!Number.isFinite(start)) throw new UsageError("calendar event: the start time is not a valid date");
  if (!Number.isInteger(count) || count < 0) throw new UsageError(`calendar event: run count must be a whole number >= 0, got ${count}`);
  const zone = ev.utc ? "UTC" : resolveTimeZone(timeZone);
  const m = compileMatcher(ev);
  const runs: Date[] = [];
  // Whole seconds: an event at 02:00:00 is not "after" 02:00:00.500.
  let t = Math.floor(start / 1000);
  while (runs.length < count) {
    const next = nextInstant(m, zone, t);
    if (next === null) break;
    runs.push(new Date(next * 1000));
    t = next;
  }
  return runs;
}

/** The first run instant (epoch seconds) strictly after `after`, or null. */
export function nextInstant(m: Matcher, zone: string, after: number): number | null {
  if (isUtcZone(zone)) return nextMatchingWall(m, after + 1);
  const forward = firstForward(m, zone, after);
  if (!m.everyHour) return forward;
  const repeated = firstInRepeatedHour(m, zone, after);
  if (repeated === null) return forward;
  return forward === null ? repeated : Math.min(forward, repeated);
}

/**
 * Searches local times after the current reading of the clock. Readings that go back (the
 * repeated hour after a fall-back change) are not seen here; firstInRepeatedHour covers them
 * for every-hour events, and the other events do not run in them.
 */
function firstForward(m: Matcher, zone: string, after: number): number | null {
  let from = wallAt(zone, after) + 1;
  // Each pass returns or moves `from` forward past a gap or an overlap; a handful of passes
  // per DST change at most. The cap only fences off a bug.
  for (let guard = 0; guard < 100_000; guard++) {
    const wall = nextMatchingWall(m, from);
    if (wall === null) return null;
    const instants = instantsOf(zone, wall);
    if (instants.length === 0) {
      from = Math.max(wall + 1, gapEnd(zone, wall));
      continue;
    }
    const eligible = m.everyHour ? instants : instants.slice(0, 1);
    const hit = eligible.find((t) => t > after);
    if (hit !== undefined) return hit;
    // Only possible inside a repeated hour whose first pass is already over: resume after it.
    from = instants.length === 2 ? Math.max(wall + 1, overlapEnd(zone, wall, instants[0], instants[1])) : wall + 1;
  }
  throw new Error(`calendar search in ${zone} did not finish after ${new Date(after * 1000).toISOString()}; this is a bug`);
}

/** For every-hour events: the first matching reading after a fall-back change just ahead. */
function firstInRepeatedHour(m: Matcher, zone: string, after: number): number | null {
  // A repeated stretch is at most 2 hours long in any zone; 3 hours of look-ahead covers it.
  const window = 3 * 3600;
  const offNow = offsetAt(zone, after);
  const offLater = offsetAt(zone, after + window);
  if (offLater >= offNow) return null;
  const change = findTransition(zone, after, after + window);
  const wall = nextMatchingWall(m, change + offLater);
  if (wall === null) return null;
  const t = wall - offLater;
  return t > after && offsetAt(zone, t) === offLater ? t : null;
}

/** First local reading after the skipped stretch that contains `wall`. */
function gapEnd(zone: string, wall: number): number {
  const before = offsetAt(zone, wall - 86400);
  const afterOff = offsetAt(zone, wall + 86400);
  if (afterOff <= before) return wall + 1;
  const change = findTransition(zone, wall - afterOff, wall - before);
  return change + afterOff;
}

/** First local reading after the first pass of the repeated stretch holding `wall`. */
function overlapEnd(zone: string, wall: number, first: number, second: number): number {
  const change = findTransition(zone, first, second);
  return change + (wall - first);
}
