/**
 * Calendar events (systemd.time dialect as Proxmox uses it) for job schedules:
 * parse, normalise like `systemd-analyze calendar`, and compute next runs in a time zone.
 */
export { parseCalendarEvent } from "./parse.ts";
export { normalizeCalendarEvent } from "./normalize.ts";
export { nextRuns } from "./next.ts";
export { CalendarEventError } from "./lexer.ts";
export { machineTimeZone, resolveTimeZone } from "./zone.ts";
export type { CalendarEvent, Component, Field } from "./types.ts";
