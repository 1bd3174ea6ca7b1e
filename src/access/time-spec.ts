/**
 * Points in time given by people: an ISO 8601 date or date-time (`2027-01-31`,
 * `2027-01-31T12:00:00Z`; a date alone means 00:00 UTC), unix seconds (`@1798675200`), or a
 * duration (`90m`, `12h`, `30d`, `2w`) counted forward (expiry) or back (since) from now.
 */
import { invalid } from "./errors.ts";

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseTimeSpec(spec: string, direction: "future" | "past", what: string, now = Date.now()): number {
  const s = spec.trim();
  const dur = /^(\d{1,9})([smhdw])$/.exec(s);
  if (dur) {
    const ms = Number(dur[1]) * UNIT_MS[dur[2]];
    return direction === "future" ? now + ms : now - ms;
  }
  const epoch = /^@(\d{1,12})$/.exec(s);
  if (epoch) return Number(epoch[1]) * 1000;
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(s)) {
    // A date-time without a zone is read as UTC: the audit log and the API speak UTC.
    const withZone = s.length === 10 ? `${s}T00:00:00Z` : /(Z|[+-]\d{2}:?\d{2})$/.test(s) ? s : `${s}Z`;
    const t = Date.parse(withZone.replace(" ", "T"));
    if (!Number.isNaN(t)) return t;
  }
  throw invalid(
    `${what}: cannot read '${spec}' as a time`,
    `use an ISO date or date-time (2027-01-31, 2027-01-31T12:00:00Z), @<unix seconds>, or a duration like 30d, 12h, 90m`,
  );
}

/** An expiry: `never` (or empty, `0`) means none; otherwise a time that must lie in the future. */
export function parseExpire(spec: string | null | undefined, what = "expire", now = Date.now()): number | null {
  if (spec === null || spec === undefined) return null;
  const s = spec.trim();
  if (s === "" || s === "never" || s === "0") return null;
  const t = parseTimeSpec(s, "future", what, now);
  if (t <= now) throw invalid(`${what}: '${spec}' lies in the past`, "give a future time, or 'never'");
  return t;
}

export function isoOrNull(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}
