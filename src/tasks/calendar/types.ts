/**
 * The parsed form of a calendar event (systemd.time dialect as Proxmox uses it).
 * See docs/calendar.md for the grammar and the DST rules.
 */

/**
 * One element of a comma list in a field:
 * `5` -> {start: 5}; `8..17` -> {start: 8, end: 17}; `0/15` -> {start: 0, step: 15};
 * `4..10/2` -> {start: 4, end: 10, step: 2}; a star with a step (every 5th) -> {start: <field minimum>, step: 5}.
 */
export interface Component {
  start: number;
  end?: number;
  step?: number;
}

/** A field's allowed values; `null` is `*` (every value). */
export type Field = Component[] | null;

export interface CalendarEvent {
  /** Bit 0 = Monday … bit 6 = Sunday; 0 means no weekday given (every day). */
  weekdays: number;
  years: Field;
  months: Field;
  days: Field;
  hours: Field;
  minutes: Field;
  seconds: Field;
  /** Trailing `UTC` keyword: evaluate in UTC whatever zone the caller passes. */
  utc: boolean;
}

export type FieldName = "years" | "months" | "days" | "hours" | "minutes" | "seconds";

/** Inclusive bounds of each field; years follow systemd (1970..2199). */
export const FIELD_BOUNDS: Record<FieldName, { min: number; max: number; label: string; width: number }> = {
  years: { min: 1970, max: 2199, label: "year", width: 4 },
  months: { min: 1, max: 12, label: "month", width: 2 },
  days: { min: 1, max: 31, label: "day", width: 2 },
  hours: { min: 0, max: 23, label: "hour", width: 2 },
  minutes: { min: 0, max: 59, label: "minute", width: 2 },
  seconds: { min: 0, max: 59, label: "second", width: 2 },
};

/** Weekday names in bit order (Monday first), as systemd prints them. */
export const WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] as const;

export const ALL_WEEKDAYS = 0x7f;
