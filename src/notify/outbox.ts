/**
 * The notification outbox: tasks queue events here (one row each, state `queued`); the
 * `notify` role delivers them once targets and matchers exist (a later issue). Queueing is a
 * plain insert into the node state database, so it works from any role process.
 */
import { desc, eq } from "drizzle-orm";
import type { StateDb } from "../state/db.ts";
import { notificationOutbox, type NotificationRow } from "../state/schema/index.ts";
import { UsageError } from "../util/errors.ts";

export type Severity = "info" | "notice" | "warning" | "error";

export interface NotificationEvent {
  type: string;
  severity: Severity;
  fields: Record<string, unknown>;
}

/** Which events a job or command queues (PBS `notify` / `--notification-mode`). */
export const NOTIFICATION_MODES = ["always", "error", "never"] as const;
export type NotificationMode = (typeof NOTIFICATION_MODES)[number];

export function parseNotificationMode(value: unknown, where = "--notification-mode"): NotificationMode {
  const v = value === undefined || value === "" ? "always" : String(value);
  if ((NOTIFICATION_MODES as readonly string[]).includes(v)) return v as NotificationMode;
  throw new UsageError(`${where}: '${v}' is not a notification mode`, `choose one of: ${NOTIFICATION_MODES.join(", ")}`);
}

/** `always` queues every event, `error` only those of severity error, `never` none. */
export function wanted(mode: NotificationMode, severity: Severity): boolean {
  return mode === "always" || (mode === "error" && severity === "error");
}

export function queueNotification(db: StateDb, event: NotificationEvent, now = Date.now()): NotificationRow {
  return db
    .insert(notificationOutbox)
    .values({ time: now, type: event.type, severity: event.severity, fields: JSON.stringify(event.fields), state: "queued" })
    .returning()
    .get();
}

export function queuedNotifications(db: StateDb, limit = 100): NotificationRow[] {
  return db.select().from(notificationOutbox).where(eq(notificationOutbox.state, "queued")).orderBy(desc(notificationOutbox.id)).limit(limit).all();
}
