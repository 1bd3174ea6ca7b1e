/** The notification outbox; see migrations/0007_notifications.ts. */
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const notificationOutbox = sqliteTable("notification_outbox", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  time: integer("time").notNull(),
  type: text("type").notNull(),
  severity: text("severity", { enum: ["info", "notice", "warning", "error"] }).notNull(),
  fields: text("fields").notNull().default("{}"),
  state: text("state").notNull().default("queued"),
});

export type NotificationRow = typeof notificationOutbox.$inferSelect;
