/**
 * The normalised form of a calendar event, as `systemd-analyze calendar` prints it:
 * `[Weekdays ]YYYY-MM-DD HH:MM:SS[ UTC]` with `*` for any value, two-digit padding
 * (four for years), list elements sorted and de-duplicated, steps unpadded (`00/15`),
 * weekdays capitalised, runs of three or more days joined with `..` (`Mon..Fri`),
 * two adjacent days listed (`Sat,Sun`). Examples: `daily` -> `*-*-* 00:00:00`,
 * `*:0/15` -> `*-*-* *:00/15:00`, `mon..fri 02:00` -> `Mon..Fri *-*-* 02:00:00`.
 */
import { FIELD_BOUNDS, WEEKDAY_NAMES, type CalendarEvent, type Component, type Field, type FieldName } from "./types.ts";

export function normalizeCalendarEvent(ev: CalendarEvent): string {
  const date = [field(ev.years, "years"), field(ev.months, "months"), field(ev.days, "days")].join("-");
  const time = [field(ev.hours, "hours"), field(ev.minutes, "minutes"), field(ev.seconds, "seconds")].join(":");
  const weekdays = ev.weekdays ? formatWeekdays(ev.weekdays) + " " : "";
  return `${weekdays}${date} ${time}${ev.utc ? " UTC" : ""}`;
}

/** Weekday bits as systemd prints them: `Mon..Fri`, `Sat,Sun`, `Mon,Wed..Fri`. */
export function formatWeekdays(bits: number): string {
  const out: string[] = [];
  let d = 0;
  while (d < 7) {
    if (!(bits & (1 << d))) {
      d++;
      continue;
    }
    let end = d;
    while (end + 1 < 7 && bits & (1 << (end + 1))) end++;
    if (end - d >= 2) out.push(`${WEEKDAY_NAMES[d]}..${WEEKDAY_NAMES[end]}`);
    else for (let x = d; x <= end; x++) out.push(WEEKDAY_NAMES[x]);
    d = end + 1;
  }
  return out.join(",");
}

function field(f: Field, name: FieldName): string {
  if (f === null) return "*";
  const width = FIELD_BOUNDS[name].width;
  const pad = (n: number) => String(n).padStart(width, "0");
  return sortedUnique(f)
    .map((c) => pad(c.start) + (c.end !== undefined ? ".." + pad(c.end) : "") + (c.step !== undefined ? "/" + c.step : ""))
    .join(",");
}

function sortedUnique(components: Component[]): Component[] {
  const key = (c: Component) => [c.start, c.end ?? -1, c.step ?? 0];
  const sorted = [...components].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka[0] - kb[0] || ka[1] - kb[1] || ka[2] - kb[2];
  });
  return sorted.filter((c, i) => i === 0 || key(c).join() !== key(sorted[i - 1]).join());
}
