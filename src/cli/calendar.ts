/**
 * `ironcore-backup calendar "<spec>"`: normalise a calendar event and list its next runs, like
 * `systemd-analyze calendar`. Thin face over src/tasks/calendar.
 */
import { defineCommand } from "citty";
import { UsageError } from "../util/errors.ts";
import { machineTimeZone, nextRuns, normalizeCalendarEvent, parseCalendarEvent, resolveTimeZone } from "../tasks/calendar/index.ts";
import { instantsOf, offsetAt } from "../tasks/calendar/zone.ts";
import { outputFormatArg, parseOutputFormat, printResult } from "./output.ts";

export interface CalendarArgs {
  spec: string;
  /** RFC 3339 time, or epoch seconds; default now. */
  from?: string;
  /** How many runs to list; default 10. */
  iterations?: string | number;
  /** IANA zone; default the machine's. */
  tz?: string;
}

export interface CalendarResult {
  spec: string;
  normalized: string;
  /** ISO-8601 UTC (`2026-03-30T00:00:00Z`). */
  next: string[];
}

const MAX_ITERATIONS = 1000;

export function calendarCommand(args: CalendarArgs, now: Date = new Date()): CalendarResult {
  const ev = parseCalendarEvent(args.spec);
  const zone = resolveTimeZone(args.tz ?? machineTimeZone());
  const from = args.from === undefined ? now : parseFrom(args.from, zone);
  const iterations = parseIterations(args.iterations);
  return {
    spec: args.spec,
    normalized: normalizeCalendarEvent(ev),
    next: nextRuns(ev, from, iterations, zone).map(isoUtc),
  };
}

function parseIterations(value: string | number | undefined): number {
  if (value === undefined) return 10;
  const n = typeof value === "number" ? value : /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_ITERATIONS)
    throw new UsageError(`--iterations: expected a whole number 1..${MAX_ITERATIONS}, got '${value}'`);
  return n;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?([Zz]|[+-]\d{2}:\d{2})?$/;

/**
 * `--from`: epoch seconds (`1774738800`), RFC 3339 (`2026-03-29T01:30:00Z`,
 * `2026-03-29T01:30:00+01:00`), or a local date/time without offset, read in the --tz zone.
 */
export function parseFrom(text: string, zone: string): Date {
  const t = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) return new Date(Number(t) * 1000);
  const m = RFC3339.exec(t);
  const bad = () =>
    new UsageError(`--from: expected RFC 3339 (2026-03-29T01:30:00Z) or epoch seconds, got '${text}'`);
  if (!m) throw bad();
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", tzPart] = m;
  const wallMs = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s);
  const check = new Date(wallMs);
  if (check.getUTCMonth() !== +mo - 1 || check.getUTCDate() !== +d || +h > 23 || +mi > 59 || +s > 59) throw bad();
  const fracMs = frac ? Math.floor(Number(frac) * 1000) : 0;
  if (tzPart) {
    const offsetMin = /^[Zz]$/.test(tzPart) ? 0 : (tzPart[0] === "-" ? -1 : 1) * (Number(tzPart.slice(1, 3)) * 60 + Number(tzPart.slice(4, 6)));
    return new Date(wallMs - offsetMin * 60_000 + fracMs);
  }
  // No offset: a local time in the zone; a repeated time means its first occurrence.
  const instants = instantsOf(zone, wallMs / 1000);
  if (instants.length === 0) throw new UsageError(`--from: ${text} does not exist in ${zone} (skipped by a daylight saving change)`);
  return new Date(instants[0] * 1000 + fracMs);
}

/** `2026-03-30T00:00:00Z`: RFC 3339 UTC, without milliseconds unless there are some. */
function isoUtc(d: Date): string {
  return d.toISOString().replace(".000Z", "Z");
}

const WEEKDAY = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/** `Mon 2026-03-30 02:00:00` read in `zone`, plus the zone's abbreviation or offset. */
export function formatInZone(d: Date, zone: string): string {
  const sec = Math.floor(d.getTime() / 1000);
  const off = offsetAt(zone, sec);
  const w = new Date((sec + off) * 1000);
  const p2 = (n: number) => String(n).padStart(2, "0");
  const date = `${w.getUTCFullYear()}-${p2(w.getUTCMonth() + 1)}-${p2(w.getUTCDate())}`;
  const time = `${p2(w.getUTCHours())}:${p2(w.getUTCMinutes())}:${p2(w.getUTCSeconds())}`;
  return `${WEEKDAY[w.getUTCDay()]} ${date} ${time} ${zoneLabel(d, zone, off)}`;
}

/** `CET`, `EDT`, `UTC` where Intl knows a name, else `+05:30`. */
function zoneLabel(d: Date, zone: string, offsetSec: number): string {
  for (const locale of ["en-US", "en-GB"]) {
    const name = new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: "short" })
      .formatToParts(d)
      .find((p) => p.type === "timeZoneName")?.value;
    if (name && /^[A-Z]{2,5}$/.test(name)) return name;
  }
  const sign = offsetSec < 0 ? "-" : "+";
  const abs = Math.abs(offsetSec);
  return `${sign}${String(Math.floor(abs / 3600)).padStart(2, "0")}:${String(Math.floor((abs % 3600) / 60)).padStart(2, "0")}`;
}

/** Text like `systemd-analyze calendar` prints. */
export function renderCalendarText(r: CalendarResult, zone: string): string {
  const lines = [`  Original form: ${r.spec}`, `Normalized form: ${r.normalized}`, `      Time zone: ${zone}`];
  if (r.next.length === 0) lines.push("    Next elapse: never");
  r.next.forEach((iso, i) => {
    const d = new Date(iso);
    const label = i === 0 ? "    Next elapse" : `Iteration #${i + 1}`.padStart(15);
    lines.push(`${label}: ${formatInZone(d, zone)}`, `       (in UTC): ${formatInZone(d, "UTC")}`);
  });
  return lines.join("\n");
}

export default defineCommand({
  meta: {
    name: "calendar",
    description: "Normalise a calendar event (e.g. 'mon..fri 02:00') and show its next runs",
  },
  args: {
    spec: { type: "positional", required: true, description: "calendar event, e.g. daily, 'mon..fri 02:00', '*:0/15'" },
    from: { type: "string", description: "list runs strictly after this time (RFC 3339 or epoch seconds; default now)" },
    iterations: { type: "string", description: "how many runs to show (default 10)" },
    tz: { type: "string", description: "IANA time zone to evaluate in (default the machine's)" },
    ...outputFormatArg,
  },
  run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const zone = resolveTimeZone(args.tz ?? machineTimeZone());
    const result = calendarCommand({ spec: args.spec, from: args.from, iterations: args.iterations, tz: zone });
    printResult(result, format, (r) => renderCalendarText(r, zone));
  },
});
